/*
 * A reproducer for page faults lost by criu lazy-pages (see
 * README-uffd-eagain.md; uffd-eagain-repro runs it). One thread reads a
 * random page of a 1 GiB private anonymous buffer, then sleeps 1 ms, over
 * and over, and after a restore says when its 1st, 10th and 100th
 * iterations end; another thread calls madvise(MADV_DONTNEED) on one page
 * after another of a 64 MiB scratch buffer, every 100 us: each call is a
 * REMOVE event for the lazy-pages daemon, and while one is pending the
 * kernel refuses UFFDIO_COPY with EAGAIN.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define BUF (1UL << 30)
#define SCRATCH (64UL << 20)
#define PAGE 4096UL

static char *buf, *scratch;

static long wall_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void *churn(void *arg)
{
	for (unsigned long off = 0;; off = (off + PAGE) % SCRATCH) {
		scratch[off] = 1;
		madvise(scratch + off, PAGE, MADV_DONTNEED);
		usleep(100);
	}
	return arg;
}

int main(void)
{
	pthread_t t;

	buf = mmap(NULL, BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	scratch = mmap(NULL, SCRATCH, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED || scratch == MAP_FAILED)
		return 1;
	for (unsigned long off = 0; off < BUF; off += PAGE)
		buf[off] = 1 + off / PAGE % 255;
	for (unsigned long off = 0; off < SCRATCH; off += PAGE)
		scratch[off] = 1;
	pthread_create(&t, NULL, churn, NULL);
	printf("ready\n");
	fflush(stdout);
	srandom(1);
	/*
	 * Wall-clock time (CRIU's time namespace keeps CLOCK_MONOTONIC
	 * continuous across the restore): the iteration that spans the
	 * checkpoint is seconds long; print when the 1st, 10th and 100th
	 * iterations after it end (each iteration sleeps 1 ms).
	 */
	for (long last = wall_ms(), after = -1;; last = wall_ms()) {
		unsigned long page = random() % (BUF / PAGE);
		char c = buf[page * PAGE];
		long t;

		if (c != (char)(1 + page % 255))
			printf("page %lu: wrong contents\n", page);
		usleep(1000);
		t = wall_ms();
		if (t - last > 3000)
			after = 0;
		if (after >= 0 && (++after == 1 || after == 10 || after == 100))
			printf("iteration %ld after the restore ended at %ld\n", after, t);
		fflush(stdout);
	}
}
