/*
 * UDP echo load generator for bench/udp_bench.ts.
 *
 *   udp_load PORT WINDOW SECONDS SIZE
 *
 * Keeps WINDOW datagrams of SIZE bytes in flight to 127.0.0.1:PORT: every
 * echo that comes back is counted and replaced by a new datagram. A
 * datagram lost on the way is replaced after 50 ms of silence. Prints the
 * echoes per second.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: udp_load PORT WINDOW SECONDS SIZE\n");
    return 2;
  }
  int port = atoi(argv[1]), window = atoi(argv[2]);
  double seconds = atof(argv[3]);
  int size = atoi(argv[4]);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int rcvbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    perror("connect");
    return 1;
  }
  char *buf = calloc(1, size > 65536 ? size : 65536);
  for (int i = 0; i < window; i++) send(fd, buf, size, 0);
  long count = 0;
  double start = now(), end = start + seconds;
  struct pollfd pfd = {fd, POLLIN, 0};
  while (now() < end) {
    int ready = poll(&pfd, 1, 50);
    if (ready == 0) {
      /* Silence: datagrams were lost; refill the window. */
      for (int i = 0; i < window; i++) send(fd, buf, size, 0);
      continue;
    }
    ssize_t n = recv(fd, buf, 65536, 0);
    if (n < 0) continue;
    count++;
    send(fd, buf, size, 0);
  }
  printf("%.0f\n", count / (now() - start));
  return 0;
}
