/* probe_lib.c -- the tiny shared library of the trace probe (tests/trace/probe.c `call N`):
 * one function whose calls a uprobe test can count, one that is never called. */
int vxprobe_fn(int x);
int vxprobe_never(int x);

int vxprobe_fn(int x)
{
    return x * 2 + 1;
}

int vxprobe_never(int x)
{
    return x - 1;
}
