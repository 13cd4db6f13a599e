/* toml2json.c - placeholder until the TOML parser lands. */
int main(void)
{
    return 1;
}
