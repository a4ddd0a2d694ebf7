static inline __attribute__((always_inline)) int twice(int x) {
    return x * 2;
}
__attribute__((noinline)) int work(int n) {
    int s = 0;
    for (int i = 0; i < n; ++i)
        s += twice(i);
    return s;
}
void _start(void) {
    volatile int r = work(10);
    (void)r;
    for (;;) {
    }
}
