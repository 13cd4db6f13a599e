/* abi_no_entry.c - a shared object without the entry symbol: refused. */
int not_an_iogate_plugin(void);
int not_an_iogate_plugin(void)
{
    return 42;
}
