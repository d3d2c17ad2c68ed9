/* A periodic 10 ms timerfd read in a loop (issue 12): writes "TOKEN N" to
 * /var/www/state after every read, N the expirations counted so far. TOKEN
 * comes from /tmp/token, which it deletes, so only its memory holds it.
 * Built by the end-to-end tests with gcc -static and copied into a busybox
 * container whose httpd serves /var/www. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
	char tok[128] = "";
	FILE *f = fopen("/tmp/token", "r");
	if (f) {
		if (!fgets(tok, sizeof tok, f))
			tok[0] = 0;
		fclose(f);
		unlink("/tmp/token");
	}
	tok[strcspn(tok, "\r\n")] = 0;
	int fd = timerfd_create(CLOCK_MONOTONIC, 0);
	struct itimerspec its = { { 0, 10000000 }, { 0, 10000000 } };
	if (fd < 0 || timerfd_settime(fd, 0, &its, NULL) < 0) {
		perror("timerfd");
		return 1;
	}
	uint64_t total = 0, n;
	for (;;) {
		if (read(fd, &n, sizeof n) != sizeof n)
			continue;
		total += n;
		FILE *o = fopen("/var/www/state.new", "w");
		if (!o)
			continue;
		fprintf(o, "%s %llu\n", tok, (unsigned long long)total);
		fclose(o);
		rename("/var/www/state.new", "/var/www/state");
	}
}
