/*
 * udpref.c - C baseline for the batchgram benchmarks: the same system calls
 * as the Node code (recvmmsg/sendmmsg, UDP GRO, UDP GSO), kept plain on purpose
 * so that a measured gap is the cost of the runtime, not of a smarter design.
 *
 *   udpref recv --mode plain|gso --bind ADDR --port N [--batch 128]
 *   udpref send --mode plain|gso --to ADDR --port N --size BYTES
 *               --duration SECONDS [--batch 128]
 *   udpref relay --bind ADDR --port N --to ADDR --to-port M [--batch 128]
 *
 * relay is a receiver (always with GRO) that forwards every message it reads,
 * unchanged and uncopied, to ADDR:M: the ceiling for a user-space forwarder.
 *
 * stdout carries one JSON object per line. The receiver and the relay stop on
 * SIGTERM, SIGINT, EOF on stdin or a "stop" line, so keep their stdin an open
 * pipe.
 * Build: cc -O2 -Wall -Wextra -std=gnu11 -o udpref udpref.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/udp.h> /* UDP_SEGMENT, UDP_GRO (glibc >= 2.28, musl) */
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLOT_SIZE    65536      /* fits any datagram and any GRO train */
#define MAX_BATCH    1024       /* UIO_MAXIOV: the kernel caps vlen there */
#define MAX_FLOWS    1024
#define SOCKBUF      (64 << 20) /* so the baseline is never buffer-starved */
#define GSO_MAX_SEGS 64         /* UDP_MAX_SEGMENTS on older kernels */
/* A GRO train never exceeds 64 segments (UDP_GRO_CNT_MAX in the kernel's
 * net/ipv4/udp_offload.c, and on loopback it is the sender's GSO message, at
 * most GSO_MAX_SEGS here), so the relay can resend any train as one GSO
 * message without meeting UDP_MAX_SEGMENTS (EINVAL past it). */
#define PROGRESS_S   0.25
#define CONTROL_S    0.02       /* how often a busy child polls stdin */
#define DRAIN_MAX_S  2.0

static volatile sig_atomic_t stop_requested;

enum command { RECV, SEND, RELAY };

struct opts {
	enum command cmd;
	int gso;
	struct sockaddr_storage addr; /* recv, relay: bound; send: destination */
	socklen_t addrlen;
	struct sockaddr_storage to;   /* relay: where messages are forwarded */
	socklen_t tolen;
	long port, to_port, size, batch;
	double duration;
	double rate; /* send: datagrams per second, 0 for as fast as the kernel takes them */
	long flows;  /* send: sockets (source ports) the rounds take turns on */
};

struct stats {
	unsigned long long datagrams, bytes, calls, messages, retries;
	double first, last; /* CLOCK_MONOTONIC of the first/last useful call */
};

static void usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "udpref: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	exit(2);
}

static void die(const char *what)
{
	fprintf(stderr, "udpref: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long parse_long(const char *name, const char *s, long lo, long hi)
{
	char *end;
	long v;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		usage_error("invalid value for", name);
	return v;
}

/* An IP literal and port as a socket address; returns its length. */
static socklen_t parse_addr(const char *text, long port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET, text, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		return sizeof *a4;
	}
	if (inet_pton(AF_INET6, text, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		return sizeof *a6;
	}
	usage_error("not an IPv4 or IPv6 address", text);
	return 0; /* not reached */
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	/* One bit per option so each command can reject the options it would
	 * ignore: a silently dropped --size on recv would hide a harness bug. */
	enum { M = 1, B = 2, T = 4, P = 8, S = 16, D = 32, N = 64, R = 128, A = 256, F = 512 };
	static const struct option lo[] = {
		{ "mode", 1, NULL, M }, { "bind", 1, NULL, B }, { "to", 1, NULL, T },
		{ "port", 1, NULL, P }, { "to-port", 1, NULL, R }, { "size", 1, NULL, S },
		{ "duration", 1, NULL, D }, { "batch", 1, NULL, N }, { "rate", 1, NULL, A },
		{ "flows", 1, NULL, F }, { NULL, 0, NULL, 0 },
	};
	/* Per command: the options it takes, the ones it needs, and its usage. */
	static const struct { const char *name; int allowed, needed; const char *needs; } cmds[] = {
		[RECV] = { "recv", M | B | P | N, M | B | P, "recv needs --mode --bind --port" },
		[SEND] = { "send", M | T | P | S | D | N | A | F, M | T | P | S | D,
			   "send needs --mode --to --port --size --duration" },
		[RELAY] = { "relay", B | T | P | R | N, B | T | P | R,
			    "relay needs --bind --port --to --to-port" },
	};
	const char *mode = NULL, *bind_addr = NULL, *to_addr = NULL;
	int c, seen = 0;
	char *end;

	memset(o, 0, sizeof *o);
	o->batch = 128;
	o->flows = 1;
	if (argc < 2)
		usage_error("usage: udpref recv|send --mode plain|gso ... | udpref relay ...", NULL);
	if (strcmp(argv[1], "recv") == 0)
		o->cmd = RECV;
	else if (strcmp(argv[1], "send") == 0)
		o->cmd = SEND;
	else if (strcmp(argv[1], "relay") == 0)
		o->cmd = RELAY;
	else
		usage_error("unknown command (want recv, send or relay)", argv[1]);
	optind = 2;
	opterr = 0; /* we print our own single line */
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case M: mode = optarg; break;
		case B: bind_addr = optarg; break;
		case T: to_addr = optarg; break;
		case P: o->port = parse_long("--port", optarg, 0, 65535); break;
		case R: o->to_port = parse_long("--to-port", optarg, 1, 65535); break;
		case S: o->size = parse_long("--size", optarg, 1, 65527); break;
		case N: o->batch = parse_long("--batch", optarg, 1, MAX_BATCH); break;
		case A: o->rate = (double)parse_long("--rate", optarg, 1, 1000000000); break;
		case F: o->flows = parse_long("--flows", optarg, 1, MAX_FLOWS); break;
		case D:
			errno = 0;
			o->duration = strtod(optarg, &end);
			/* Written so that NaN fails the range test too. */
			if (errno || end == optarg || *end || !(o->duration > 0 && o->duration < 1e7))
				usage_error("invalid value for", "--duration");
			break;
		default:
			usage_error("unknown option or missing value", argv[optind - 1]);
		}
		seen |= c;
	}
	if (optind < argc)
		usage_error("unexpected argument", argv[optind]);
	if (seen & ~cmds[o->cmd].allowed)
		usage_error("option not valid for this command", argv[1]);
	if ((seen & cmds[o->cmd].needed) != cmds[o->cmd].needed)
		usage_error(cmds[o->cmd].needs, NULL);
	/* The relay forwards GRO trains as GSO messages: it has no plain mode. */
	if (o->cmd == RELAY)
		o->gso = 1;
	else if (strcmp(mode, "gso") == 0)
		o->gso = 1;
	else if (strcmp(mode, "plain") != 0)
		usage_error("invalid --mode (want plain or gso)", mode);
	if (o->cmd == SEND && o->port == 0)
		usage_error("invalid value for", "--port");

	o->addrlen = parse_addr(o->cmd == SEND ? to_addr : bind_addr, o->port, &o->addr);
	if (o->cmd == RELAY) {
		o->tolen = parse_addr(to_addr, o->to_port, &o->to);
		/* One socket does both: its family is the bound address's. */
		if (o->to.ss_family != o->addr.ss_family)
			usage_error("--to must be of the same address family as --bind", to_addr);
	}
	/* 65535 minus the UDP header, and for IPv4 minus the IP header too: the
	 * IPv6 payload length does not count IPv6's fixed header. */
	if (o->cmd == SEND && o->size > (o->addr.ss_family == AF_INET6 ? 65527 : 65507))
		usage_error("--size too large for this address family", NULL);
}

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* FORCE ignores net.core.[rw]mem_max but needs CAP_NET_ADMIN; the plain
 * option is silently clamped. A small buffer only costs throughput, so
 * failure is deliberately ignored. */
static void set_buffer(int fd, int force, int plain)
{
	int sz = SOCKBUF;
	if (setsockopt(fd, SOL_SOCKET, force, &sz, sizeof sz) < 0)
		(void)setsockopt(fd, SOL_SOCKET, plain, &sz, sizeof sz);
}

static int make_socket(const struct opts *o)
{
	int fd = socket(o->addr.ss_family, SOCK_DGRAM, 0);

	if (fd < 0)
		die("socket");
	if (o->cmd != SEND) /* the relay receives and sends: both */
		set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF);
	if (o->cmd != RECV)
		set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF);
	return fd;
}

static void print_done(const struct stats *st, double seconds, int with_retries)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"event\":\"done\",\"datagrams\":%llu,\"bytes\":%llu,\"seconds\":%.6f,"
	       "\"cpuUser\":%.6f,\"cpuSystem\":%.6f,\"calls\":%llu,\"messages\":%llu",
	       st->datagrams, st->bytes, seconds,
	       ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, st->calls, st->messages);
	if (with_retries)
		printf(",\"retries\":%llu", st->retries);
	printf("}\n");
	fflush(stdout);
}

/* True once the controller asked us to stop: EOF or a "stop" line. Uses
 * read(2) on fd 0, not stdio, whose buffer would hide input from poll(2).
 * One read per call is enough: if more is pending, the next call sees it. */
static int stdin_says_stop(void)
{
	static char line[8]; /* "stop\r" fits; longer lines just saturate */
	static size_t used;
	static int unusable;
	struct pollfd p = { .fd = 0, .events = POLLIN };
	char buf[256];
	ssize_t n;

	if (unusable || poll(&p, 1, 0) <= 0)
		return 0;
	if (p.revents & POLLNVAL) { /* no stdin at all: rely on signals */
		unusable = 1;
		return 0;
	}
	n = read(0, buf, sizeof buf);
	if (n <= 0) /* EOF, or an error that means the controller is gone */
		return !(n < 0 && errno == EINTR);
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			if (used < sizeof line)
				line[used++] = buf[i];
			continue;
		}
		if ((used == 4 || (used == 5 && line[4] == '\r')) && memcmp(line, "stop", 4) == 0)
			return 1;
		used = 0;
	}
	return 0;
}

/* The GRO segment size of a received message: 0 when the kernel attached no
 * UDP_GRO control message, i.e. the message is one datagram as sent. */
static int gro_segment_size(struct msghdr *h)
{
	int seg = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO)
			memcpy(&seg, CMSG_DATA(c), sizeof seg); /* may be unaligned */
	return seg > 0 ? seg : 0;
}

/* Datagrams in a message of len bytes: a GRO train is cut at seg, and all its
 * segments but the last are full. */
static unsigned long long segments(unsigned long long len, int seg)
{
	return seg > 0 && len > 0 ? (len + seg - 1) / seg : 1;
}

static void warn_if_truncated(const struct msghdr *h)
{
	static int warned;
	if ((h->msg_flags & (MSG_TRUNC | MSG_CTRUNC)) && !warned++)
		fprintf(stderr, "udpref: warning: truncated message\n");
}

static void account_recv(struct stats *st, struct mmsghdr *msgs, int n, double now)
{
	for (int i = 0; i < n; i++) {
		struct msghdr *h = &msgs[i].msg_hdr;
		warn_if_truncated(h);
		st->datagrams += segments(msgs[i].msg_len, gro_segment_size(h));
		st->bytes += msgs[i].msg_len;
	}
	if (st->calls++ == 0)
		st->first = now;
	st->last = now;
	st->messages += n;
}

typedef union { struct cmsghdr align; char b[CMSG_SPACE(sizeof(uint16_t))]; } segment_ctrl_t;

/* The relay's send side: message i resends receive slot i, so nothing is
 * copied and one table serves every batch. */
struct relay {
	struct mmsghdr *msgs;
	struct iovec *iov;
	segment_ctrl_t *ctrl;   /* UDP_SEGMENT, one per message: sizes differ */
	unsigned long long *segs; /* datagrams in message i */
};

static void relay_init(struct relay *r, struct opts *o, const struct iovec *slots)
{
	r->msgs = calloc(o->batch, sizeof *r->msgs);
	r->iov = calloc(o->batch, sizeof *r->iov);
	r->ctrl = calloc(o->batch, sizeof *r->ctrl);
	r->segs = calloc(o->batch, sizeof *r->segs);
	if (!r->msgs || !r->iov || !r->ctrl || !r->segs)
		die("malloc");
	for (long i = 0; i < o->batch; i++) {
		struct msghdr *h = &r->msgs[i].msg_hdr;
		r->iov[i].iov_base = slots[i].iov_base;
		h->msg_name = &o->to;
		h->msg_namelen = o->tolen;
		h->msg_iov = &r->iov[i];
		h->msg_iovlen = 1;
		/* As in run_send: cmsg_len must be exactly CMSG_LEN(sizeof(u16)). */
		r->ctrl[i].align.cmsg_level = SOL_UDP;
		r->ctrl[i].align.cmsg_type = UDP_SEGMENT;
		r->ctrl[i].align.cmsg_len = CMSG_LEN(sizeof(uint16_t));
	}
}

/* Forwards the n messages just received, each as it came: one message whose
 * one iovec is its receive slot, and for a GRO train of two or more datagrams
 * UDP_SEGMENT at the train's segment size, so the kernel cuts it into the same
 * datagrams again. Counts what the kernel took; returns once it took all. */
static void relay_forward(int fd, struct relay *r, struct mmsghdr *in, int n,
			  struct stats *st, double now)
{
	for (int i = 0; i < n; i++) {
		struct msghdr *h = &r->msgs[i].msg_hdr;
		int seg = gro_segment_size(&in[i].msg_hdr);
		warn_if_truncated(&in[i].msg_hdr);
		r->iov[i].iov_len = in[i].msg_len;
		r->segs[i] = segments(in[i].msg_len, seg);
		if (r->segs[i] >= 2) {
			uint16_t seg16 = (uint16_t)seg; /* seg < len <= 65535 */
			memcpy(CMSG_DATA(&r->ctrl[i].align), &seg16, sizeof seg16);
			h->msg_control = r->ctrl[i].b;
			h->msg_controllen = sizeof r->ctrl[i].b;
		} else {
			h->msg_control = NULL;
			h->msg_controllen = 0;
		}
	}
	if (st->calls++ == 0) /* the recvmmsg that brought them */
		st->first = now;
	for (int off = 0; off < n;) {
		int k = sendmmsg(fd, r->msgs + off, n - off, 0);
		if (k < 0) {
			/* Transient queue/buffer pressure: just try again. */
			if (errno == ENOBUFS || errno == EAGAIN || errno == EWOULDBLOCK) {
				st->retries++;
				continue;
			}
			if (errno == EINTR)
				continue;
			if (errno == EINVAL || errno == EIO)
				fprintf(stderr, "udpref: hint: UDP_SEGMENT needs segments "
					"<= path MTU and checksum offload on the device\n");
			die("sendmmsg");
		}
		/* A short count: continue with the message the kernel stopped at. */
		st->calls++;
		st->messages += k;
		for (int i = off; i < off + k; i++) {
			st->datagrams += r->segs[i];
			st->bytes += r->iov[i].iov_len;
		}
		off += k;
	}
	st->last = now_mono();
}

/* The receiver, and the relay, which is a receiver that forwards what it reads
 * instead of only counting it: same socket, loop, drain and line protocol, so
 * that its figures compare with recv's. */
static int run_recv(struct opts *o)
{
	typedef union { struct cmsghdr align; char b[CMSG_SPACE(sizeof(int))]; } ctrl_t;
	int fd = make_socket(o), one = 1, n;
	struct timeval tv = { .tv_sec = 0, .tv_usec = 100000 };
	struct sockaddr_storage bound;
	socklen_t blen = sizeof bound;
	struct stats st = { 0 };
	double now = now_mono(), next_progress = now + PROGRESS_S, next_control = now;
	double drain_end = 0;
	char *data = malloc((size_t)o->batch * SLOT_SIZE);
	struct iovec *iov = calloc(o->batch, sizeof *iov);
	struct mmsghdr *msgs = calloc(o->batch, sizeof *msgs);
	ctrl_t *ctrl = calloc(o->batch, sizeof *ctrl);
	struct relay relay = { 0 };

	if (!data || !iov || !msgs || !ctrl)
		die("malloc");
	if (o->gso && setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) < 0)
		die("setsockopt(UDP_GRO) failed (needs Linux >= 5.0)");
	/* A timeout rather than non-blocking I/O: an idle receiver sleeps in the
	 * kernel yet still wakes up to notice stop requests. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
		die("setsockopt(SO_RCVTIMEO)");
	if (bind(fd, (struct sockaddr *)&o->addr, o->addrlen) < 0)
		die("bind");
	if (getsockname(fd, (struct sockaddr *)&bound, &blen) < 0)
		die("getsockname");
	for (long i = 0; i < o->batch; i++) {
		iov[i] = (struct iovec){ data + i * SLOT_SIZE, SLOT_SIZE };
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_control = o->gso ? ctrl[i].b : NULL;
	}
	if (o->cmd == RELAY)
		relay_init(&relay, o, iov);
	printf("{\"event\":\"ready\",\"port\":%u}\n", ntohs(bound.ss_family == AF_INET6
		? ((struct sockaddr_in6 *)&bound)->sin6_port
		: ((struct sockaddr_in *)&bound)->sin_port));
	fflush(stdout);

	for (;;) {
		/* The kernel overwrites msg_controllen with the length it used. */
		for (long i = 0; i < o->batch; i++)
			msgs[i].msg_hdr.msg_controllen = o->gso ? sizeof ctrl[i].b : 0;
		/* WAITFORONE blocks for the first message only and then takes what
		 * is queued, so a slow sender cannot stall us until a batch fills. */
		n = recvmmsg(fd, msgs, o->batch, drain_end > 0 ? MSG_DONTWAIT : MSG_WAITFORONE, NULL);
		now = now_mono();
		if (n > 0 && o->cmd == RELAY)
			relay_forward(fd, &relay, msgs, n, &st, now);
		else if (n > 0)
			account_recv(&st, msgs, n, now);
		else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			die("recvmmsg");
		if (drain_end > 0) {
			if (n <= 0 || now >= drain_end)
				break;
			continue;
		}
		/* Polling stdin after every call would add a syscall per batch that
		 * the Node side does not make; check when idle or every 20 ms. */
		if (!stop_requested && (n <= 0 || now >= next_control)) {
			next_control = now + CONTROL_S;
			if (stdin_says_stop())
				stop_requested = 1;
		}
		/* The sender has usually finished by now, but what it sent may still
		 * sit in our large buffer and should count: drain it, bounded in
		 * time in case the sender is still going. */
		if (stop_requested) {
			drain_end = now + DRAIN_MAX_S;
			continue;
		}
		if (now >= next_progress) {
			next_progress = now + PROGRESS_S;
			printf("{\"event\":\"progress\",\"datagrams\":%llu,\"bytes\":%llu}\n",
			       st.datagrams, st.bytes);
			fflush(stdout);
		}
	}
	print_done(&st, st.last - st.first, o->cmd == RELAY);
	return 0;
}

static int run_send(struct opts *o)
{
	union { struct cmsghdr align; char b[CMSG_SPACE(sizeof(uint16_t))]; } ctrl;
	long maxk = (o->addr.ss_family == AF_INET6 ? 65527 : 65507) / o->size;
	long k = !o->gso ? 1 : maxk < GSO_MAX_SEGS ? maxk : GSO_MAX_SEGS;
	long nmsg = (o->batch + k - 1) / k, off = 0;
	/* Several flows (sockets, each its own source port) for receivers that
	 * the kernel spreads by flow, as an SO_REUSEPORT group: a round each. */
	int fds[MAX_FLOWS], r;
	long round = 0;
	for (long f = 0; f < o->flows; f++)
		fds[f] = make_socket(o);
	uint16_t seg = (uint16_t)o->size;
	struct stats st = { 0 };
	double start;
	unsigned char *buf = malloc((size_t)k * o->size);
	long *segs = calloc(nmsg, sizeof *segs);
	struct iovec *iov = calloc(nmsg, sizeof *iov);
	struct mmsghdr *msgs = calloc(nmsg, sizeof *msgs);

	if (!buf || !segs || !iov || !msgs)
		die("malloc");
	/* Each segment repeats the same pattern, so a GSO train is exactly k
	 * copies of the plain payload and receivers see identical datagrams. */
	for (long i = 0; i < k * o->size; i++)
		buf[i] = (unsigned char)('a' + (i % o->size) % 26);
	/* The kernel only reads send-side control data, so one copy serves every
	 * message; its cmsg_len must be exactly CMSG_LEN(sizeof(u16)). */
	memset(&ctrl, 0, sizeof ctrl);
	ctrl.align.cmsg_level = SOL_UDP;
	ctrl.align.cmsg_type = UDP_SEGMENT;
	ctrl.align.cmsg_len = CMSG_LEN(sizeof seg);
	memcpy(CMSG_DATA(&ctrl.align), &seg, sizeof seg);
	for (long i = 0; i < nmsg; i++) {
		struct msghdr *h = &msgs[i].msg_hdr;
		segs[i] = o->batch - i * k < k ? o->batch - i * k : k;
		iov[i] = (struct iovec){ buf, (size_t)segs[i] * o->size }; /* shared, read-only */
		h->msg_name = &o->addr; /* no connect(): per-message destination */
		h->msg_namelen = o->addrlen;
		h->msg_iov = &iov[i];
		h->msg_iovlen = 1;
		/* A single datagram needs no segmentation; without the cmsg it
		 * takes the ordinary path. */
		if (segs[i] >= 2) {
			h->msg_control = ctrl.b;
			h->msg_controllen = sizeof ctrl.b;
		}
	}

	start = now_mono();
	double next_control = start + CONTROL_S;
	while (!stop_requested && now_mono() - start < o->duration) {
		/* A controller that died closes our stdin: stop, rather than flood
		 * loopback for the rest of the duration. */
		if (now_mono() >= next_control) {
			next_control = now_mono() + CONTROL_S;
			if (stdin_says_stop())
				break;
		}
		/* A fixed offered rate: each round of `batch` datagrams waits for its
		 * time, so the sender sleeps rather than spins below its maximum. */
		if (o->rate > 0 && off == 0) {
			double due = start + (double)st.datagrams / o->rate;
			double wait = due - now_mono();
			if (wait > 0) {
				struct timespec ts = { (time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9) };
				nanosleep(&ts, NULL);
				continue; /* the duration and stdin are checked again first */
			}
		}
		if (off == 0)
			round++;
		r = sendmmsg(fds[round % o->flows], msgs + off, nmsg - off, 0);
		if (r < 0) {
			/* Transient queue/buffer pressure: just try again. */
			if (errno == ENOBUFS || errno == EAGAIN || errno == EWOULDBLOCK) {
				st.retries++;
				continue;
			}
			if (errno == EINTR)
				continue;
			if (o->gso && (errno == EINVAL || errno == EIO))
				fprintf(stderr, "udpref: hint: UDP_SEGMENT needs size + headers "
					"<= path MTU and checksum offload on the device\n");
			die("sendmmsg");
		}
		st.calls++;
		st.messages += r;
		for (long i = off; i < off + r; i++)
			st.datagrams += segs[i];
		/* After a short return only the remainder is resent, so each round
		 * of calls covers exactly `batch` datagrams. */
		off = off + r >= nmsg ? 0 : off + r;
	}
	st.bytes = st.datagrams * (unsigned long long)o->size;
	print_done(&st, now_mono() - start, 1);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct sigaction sa = { .sa_handler = on_signal };

	parse_args(argc, argv, &o);
	/* No SA_RESTART: a blocked recvmmsg should return EINTR at once. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* A vanished harness must not kill us before "done" is attempted. */
	signal(SIGPIPE, SIG_IGN);
	return o.cmd == SEND ? run_send(&o) : run_recv(&o);
}
