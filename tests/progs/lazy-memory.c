/*
 * Memory to restore lazily (tests/lazy.rs): lazy-memory MIB fills MIB MiB of
 * private anonymous memory, each page with its own pattern, prints "ready",
 * then reads a page every millisecond. On SIGUSR1 it checks every page and
 * prints "verified N pages", or "page I wrong" for the first bad one (a hole
 * left by a page source that died reads as zeros).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096UL

static volatile sig_atomic_t verify;

static void on_usr1(int sig)
{
	(void)sig;
	verify = 1;
}

static unsigned char pattern(unsigned long page)
{
	return (unsigned char)(page * 2654435761UL >> 13) | 1;
}

int main(int argc, char **argv)
{
	unsigned long pages, i = 0;
	unsigned char *buf;

	if (argc != 2 || (pages = strtoul(argv[1], NULL, 10) * 256) == 0)
		return 2;
	buf = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return 1;
	for (unsigned long p = 0; p < pages; p++)
		for (unsigned long b = 0; b < PAGE; b += 512)
			buf[p * PAGE + b] = pattern(p);
	signal(SIGUSR1, on_usr1);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		volatile unsigned char c = buf[(i++ * 7919) % pages * PAGE];

		(void)c;
		if (verify) {
			unsigned long p, b, bad = pages;

			verify = 0;
			for (p = 0; p < pages && bad == pages; p++)
				for (b = 0; b < PAGE; b += 512)
					if (buf[p * PAGE + b] != pattern(p))
						bad = p;
			if (bad == pages)
				printf("verified %lu pages\n", pages);
			else
				printf("page %lu wrong\n", bad);
			fflush(stdout);
		}
		usleep(1000);
	}
}
