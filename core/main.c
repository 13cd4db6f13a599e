/* main.c - command line entry point (replaced as the server lands). */
#include <stdio.h>

int main(void)
{
    printf("iogate %s\n", IOGATE_VERSION);
    return 0;
}
