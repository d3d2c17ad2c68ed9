/* Holds an inotify instance (fd 3) watching the path given, and sleeps:
 * what CRIU must save of a program that watches its own files (issue 16).
 * Built by the end-to-end tests with gcc -static and copied into a busybox
 * container (Debian's busybox has no inotifyd). */
#include <stdio.h>
#include <sys/inotify.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: inotify-watch PATH\n");
		return 2;
	}
	int fd = inotify_init();
	if (fd < 0 || inotify_add_watch(fd, argv[1], IN_MODIFY | IN_CREATE) < 0) {
		perror("inotify");
		return 1;
	}
	for (;;)
		pause();
}
