/*
 * Load generator for the TCP echo benchmark (bench/echo_bench.ts).
 *
 * Build:  cc -O2 -o echo_load bench/echo_load.c
 *
 * Request/response mode:
 *   echo_load HOST PORT CONNECTIONS MESSAGE_SIZE SECONDS [line]
 * opens CONNECTIONS connections; each one sends a message of MESSAGE_SIZE
 * bytes, waits until the whole message has come back (and checks its bytes),
 * then sends the next. After SECONDS it prints
 *   {"requests": N, "seconds": S, "rps": R}
 * where N counts completed round trips and S is the measured time. The
 * message is lowercase letters; with `line` its last byte is "\n" instead,
 * so each request is one line (for servers that echo line by line).
 *
 * Idle mode:
 *   echo_load idle HOST PORT COUNT
 * opens COUNT connections (at most 64 handshakes in flight, so a small
 * listen backlog never overflows), sends one byte on each and waits for its
 * echo (so the server has really accepted and served every connection),
 * prints {"connected": COUNT}, then holds the connections open until stdin
 * closes.
 *
 * Connections are closed with SO_LINGER 0 (a reset), so repeated runs leave
 * no TIME_WAIT sockets holding ephemeral ports. Single-threaded, epoll,
 * non-blocking sockets, TCP_NODELAY. Exit status 1 on any error (message on
 * stderr).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define IDLE_IN_FLIGHT 64
#define IDLE_TIMEOUT_S 120.0

enum state { CONNECTING, ACTIVE, DONE };

struct conn {
  int fd;
  enum state state;
  size_t sent;     /* bytes of the current message written */
  size_t received; /* bytes of the current echo read */
  int want_out;    /* EPOLLOUT registered */
};

static struct sockaddr_storage addr;
static socklen_t addr_len;

static void die(const char *what) {
  fprintf(stderr, "echo_load: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void fail(const char *msg) {
  fprintf(stderr, "echo_load: %s\n", msg);
  exit(1);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long parse_long(const char *s, const char *name, long min) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < min) {
    fprintf(stderr, "echo_load: bad %s: %s\n", name, s);
    exit(2);
  }
  return v;
}

static void resolve(const char *host, const char *port) {
  struct addrinfo hints, *res;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc != 0) {
    fprintf(stderr, "echo_load: %s:%s: %s\n", host, port, gai_strerror(rc));
    exit(1);
  }
  memcpy(&addr, res->ai_addr, res->ai_addrlen);
  addr_len = res->ai_addrlen;
  freeaddrinfo(res);
}

static void raise_nofile(long need) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) die("getrlimit");
  if ((long)rl.rlim_cur >= need) return;
  rlim_t want = (rlim_t)need;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
    rl.rlim_max = want; /* needs privileges; falls back below */
  }
  rl.rlim_cur = want;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    getrlimit(RLIMIT_NOFILE, &rl);
    if ((long)rl.rlim_max < need) {
      fprintf(stderr, "echo_load: RLIMIT_NOFILE hard limit %ld < %ld\n",
              (long)rl.rlim_max, need);
      exit(1);
    }
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) die("setrlimit");
  }
}

/* Starts a non-blocking connect; registers the socket for EPOLLOUT. */
static void start_connect(int ep, struct conn *c) {
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  if (connect(fd, (struct sockaddr *)&addr, addr_len) != 0 &&
      errno != EINPROGRESS)
    die("connect");
  c->fd = fd;
  c->state = CONNECTING;
  c->sent = c->received = 0;
  c->want_out = 1;
  struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl add");
}

static void check_connected(struct conn *c) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) die("getsockopt");
  if (err != 0) {
    errno = err;
    die("connect");
  }
}

static void set_events(int ep, struct conn *c, int want_out) {
  if (c->want_out == want_out) return;
  struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0),
                           .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0) die("epoll_ctl mod");
  c->want_out = want_out;
}

/* Writes as much of the current message as the socket takes. */
static void pump_write(int ep, struct conn *c, const uint8_t *msg, size_t size) {
  while (c->sent < size) {
    ssize_t n = send(c->fd, msg + c->sent, size - c->sent, MSG_NOSIGNAL);
    if (n > 0) {
      c->sent += (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      set_events(ep, c, 1);
      return;
    } else {
      die("send");
    }
  }
  set_events(ep, c, 0);
}

/*
 * Reads what has arrived; returns the number of complete echoes (0 or 1 per
 * call, as a connection has one message outstanding at a time).
 */
static int pump_read(struct conn *c, const uint8_t *msg, size_t size,
                     uint8_t *scratch, size_t scratch_size) {
  for (;;) {
    size_t want = size - c->received;
    if (want > scratch_size) want = scratch_size;
    ssize_t n = recv(c->fd, scratch, want, 0);
    if (n > 0) {
      if (c->received + (size_t)n > c->sent)
        fail("server echoed bytes that were not sent");
      if (memcmp(scratch, msg + c->received, (size_t)n) != 0)
        fail("echo does not match the message sent");
      c->received += (size_t)n;
      if (c->received == size) return 1;
    } else if (n == 0) {
      fail("server closed the connection");
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return 0;
    } else {
      die("recv");
    }
  }
}

static int run_load(const char *host, const char *port, long nconn, long size,
                    double seconds, int line) {
  resolve(host, port);
  raise_nofile(nconn + 100);
  uint8_t *msg = malloc((size_t)size);
  size_t scratch_size = size < 65536 ? (size_t)size : 65536;
  uint8_t *scratch = malloc(scratch_size);
  struct conn *conns = calloc((size_t)nconn, sizeof *conns);
  if (!msg || !scratch || !conns) fail("out of memory");
  for (long i = 0; i < size; i++) msg[i] = (uint8_t)('a' + (i * 7) % 26);
  if (line) msg[size - 1] = '\n';

  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  for (long i = 0; i < nconn; i++) start_connect(ep, &conns[i]);

  struct epoll_event events[MAX_EVENTS];
  long connected = 0;
  long long requests = 0;
  double start = 0, deadline = 0, setup_deadline = now() + 30.0;
  int measuring = 0;

  for (;;) {
    double t = now();
    if (measuring && t >= deadline) break;
    if (!measuring && t >= setup_deadline) fail("timed out connecting");
    double left = measuring ? deadline - t : setup_deadline - t;
    int timeout = (int)(left * 1000.0) + 1;
    int n = epoll_wait(ep, events, MAX_EVENTS, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      struct conn *c = events[i].data.ptr;
      uint32_t e = events[i].events;
      if (c->state == CONNECTING) {
        check_connected(c);
        c->state = ACTIVE;
        c->want_out = 1; /* registered as EPOLLOUT only; force a MOD */
        set_events(ep, c, 0);
        if (++connected == nconn) {
          /* Everyone is connected: start the clock and the traffic. */
          measuring = 1;
          start = now();
          deadline = start + seconds;
          for (long j = 0; j < nconn; j++)
            pump_write(ep, &conns[j], msg, (size_t)size);
        }
        continue;
      }
      if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        if (pump_read(c, msg, (size_t)size, scratch, scratch_size)) {
          requests++;
          c->sent = c->received = 0;
          pump_write(ep, c, msg, (size_t)size);
          continue;
        }
      }
      if ((e & EPOLLOUT) && c->sent < (size_t)size)
        pump_write(ep, c, msg, (size_t)size);
    }
  }
  double elapsed = now() - start;
  for (long i = 0; i < nconn; i++) close(conns[i].fd);
  printf("{\"requests\": %lld, \"seconds\": %.4f, \"rps\": %.1f}\n", requests,
         elapsed, (double)requests / elapsed);
  return 0;
}

static int run_idle(const char *host, const char *port, long count) {
  resolve(host, port);
  raise_nofile(count + 100);
  struct conn *conns = calloc((size_t)count, sizeof *conns);
  if (!conns) fail("out of memory");
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");

  const uint8_t ping = 'x';
  uint8_t scratch[16];
  long started = 0, done = 0, in_flight = 0;
  struct epoll_event events[MAX_EVENTS];
  double deadline = now() + IDLE_TIMEOUT_S;

  while (done < count) {
    while (in_flight < IDLE_IN_FLIGHT && started < count) {
      start_connect(ep, &conns[started++]);
      in_flight++;
    }
    int timeout = (int)((deadline - now()) * 1000.0);
    if (timeout <= 0) fail("timed out opening idle connections");
    int n = epoll_wait(ep, events, MAX_EVENTS, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      struct conn *c = events[i].data.ptr;
      if (c->state == CONNECTING) {
        check_connected(c);
        c->state = ACTIVE;
        c->want_out = 1;
        pump_write(ep, c, &ping, 1);
      } else if (c->state == ACTIVE) {
        if (pump_read(c, &ping, 1, scratch, sizeof scratch)) {
          c->state = DONE;
          if (epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL) != 0)
            die("epoll_ctl del");
          in_flight--;
          done++;
        } else if (c->sent < 1) {
          pump_write(ep, c, &ping, 1);
        }
      }
    }
  }
  printf("{\"connected\": %ld}\n", count);
  fflush(stdout);

  /* Hold the connections until stdin closes (or errors). */
  char buf[256];
  for (;;) {
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0 && errno != EINTR) break;
  }
  for (long i = 0; i < count; i++) close(conns[i].fd);
  return 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: echo_load HOST PORT CONNECTIONS MESSAGE_SIZE SECONDS [line]\n"
          "       echo_load idle HOST PORT COUNT\n");
  exit(2);
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc == 5 && strcmp(argv[1], "idle") == 0) {
    return run_idle(argv[2], argv[3], parse_long(argv[4], "count", 1));
  }
  if (argc != 6 && !(argc == 7 && strcmp(argv[6], "line") == 0)) usage();
  long nconn = parse_long(argv[3], "connections", 1);
  long size = parse_long(argv[4], "message size", 1);
  char *end;
  double seconds = strtod(argv[5], &end);
  if (*end || !(seconds > 0)) usage();
  return run_load(argv[1], argv[2], nconn, size, seconds, argc == 7);
}
