/*
 * Load generator for the TLS echo benchmark (bench/tls_bench.ts).
 *
 * Build:  cc -O2 -o tls_load bench/tls_load.c -lssl -lcrypto -lpthread
 *         (Debian: apt-get install libssl-dev)
 *
 *   tls_load HOST PORT CONNECTIONS MESSAGE_SIZE SECONDS CAFILE SERVERNAME
 *
 * Opens CONNECTIONS TLS connections (one thread each, blocking OpenSSL,
 * TCP_NODELAY), verifying the server against CAFILE and SERVERNAME. Each
 * connection sends a MESSAGE_SIZE-byte message, waits until the whole echo
 * came back (and checks its bytes), then sends the next. Handshakes are not
 * timed: the clock starts once every connection is up. After SECONDS it
 * prints {"requests": N, "seconds": S, "rps": R}. Connections are then
 * reset (SO_LINGER 0). Exit status 1 on any error (message on stderr).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *host;
static int port;
static size_t size;
static const char *servername;
static SSL_CTX *ctx;
static atomic_int stop_flag;
static atomic_int ready;
static atomic_long total;
static pthread_barrier_t start_barrier;

static void die(const char *what) {
  fprintf(stderr, "tls_load: %s\n", what);
  ERR_print_errors_fp(stderr);
  exit(1);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *worker(void *arg) {
  (void)arg;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) die("bad host");
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect");
  SSL *ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, servername);
  SSL_set1_host(ssl, servername);
  if (SSL_connect(ssl) != 1) die("handshake");
  unsigned char *out = malloc(size), *in = malloc(size);
  for (size_t i = 0; i < size; i++) out[i] = (unsigned char)(i % 251);
  pthread_barrier_wait(&start_barrier);
  long count = 0;
  while (!atomic_load(&stop_flag)) {
    if (SSL_write(ssl, out, (int)size) != (int)size) die("write");
    size_t got = 0;
    while (got < size) {
      int n = SSL_read(ssl, in + got, (int)(size - got));
      if (n <= 0) die("read");
      got += (size_t)n;
    }
    if (memcmp(in, out, size) != 0) die("echo mismatch");
    count++;
  }
  atomic_fetch_add(&total, count);
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  SSL_free(ssl);
  close(fd);
  free(out);
  free(in);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr,
            "usage: tls_load HOST PORT CONNECTIONS SIZE SECONDS CAFILE NAME\n");
    return 1;
  }
  host = argv[1];
  port = atoi(argv[2]);
  int connections = atoi(argv[3]);
  size = (size_t)atol(argv[4]);
  double seconds = atof(argv[5]);
  servername = argv[7];
  ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL) die("SSL_CTX_new");
  if (SSL_CTX_load_verify_locations(ctx, argv[6], NULL) != 1) die("CAFILE");
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  pthread_barrier_init(&start_barrier, NULL, (unsigned)connections + 1);
  pthread_t *threads = calloc((size_t)connections, sizeof *threads);
  for (int i = 0; i < connections; i++) {
    pthread_create(&threads[i], NULL, worker, NULL);
  }
  pthread_barrier_wait(&start_barrier);
  double start = now();
  struct timespec ts = {(time_t)seconds,
                        (long)((seconds - (time_t)seconds) * 1e9)};
  nanosleep(&ts, NULL);
  atomic_store(&stop_flag, 1);
  for (int i = 0; i < connections; i++) pthread_join(threads[i], NULL);
  double elapsed = now() - start;
  long n = atomic_load(&total);
  printf("{\"requests\": %ld, \"seconds\": %.3f, \"rps\": %.1f}\n", n, elapsed,
         n / elapsed);
  return 0;
}
