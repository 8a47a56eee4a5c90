/*
 * sseload: the load client of bench/versus-nchan/run.sh. One epoll loop, plain HTTP/1.1 on loopback, so the
 * same client measures RunJournal (through nginx) and nchan (inside nginx) the same way.
 *
 *   sseload sub  --port P --sub PATH --pub PATH --kind rj|nchan --subs S --events N --rate R
 *                [--pub-conns C] [--resume] [--reconnect-gap-ms MS] [--rj-pid PID] [--nginx-pid PID]
 *                [--cdf FILE] [--drain-s SECONDS] [--label TEXT]
 *       S subscribers on PATH; once all have their response headers a forked publisher POSTs N events at R
 *       per second over C keep-alive connections, each carrying its send time (CLOCK_MONOTONIC, shared by
 *       both processes) and its index n. Every frame is timestamped when its read(2) returns. With --resume
 *       each subscriber drops its connection once, after a random number of events, waits MS and reconnects
 *       with Last-Event-ID. Prints one JSON object: delivered (distinct n per subscriber), duplicates,
 *       missed, frames out of order (by the SSE id), latency percentiles, server CPU (responder + every
 *       nginx process, from /proc) and the client's own CPU (getrusage).
 *   sseload idle --port P --sub-fmt FMT --channels K --steps 1000,5000,... [--cpu-step N --cpu-s S]
 *                [--rj-pid PID] [--nginx-pid PID] [--settle-s S] [--label TEXT]
 *       Opens streams in steps (FMT is a printf pattern taking the channel number, streams spread over K
 *       channels), and at each step records RSS, descriptors and threads of the responder and of each nginx
 *       process; at --cpu-step it also records their CPU over --cpu-s seconds. Prints one JSON object.
 *
 * Event ids understood: RunJournal's "<seq>.<incarnation>" and nchan's "<time>:<tag>" (ordered as pairs).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { ST_IDLE, ST_CONNECTING, ST_HEADERS, ST_BODY, ST_WAIT_RECONNECT, ST_ENDED, ST_FAILED };
enum { CH_SIZE, CH_DATA, CH_CRLF, CH_DONE };

typedef struct {
    int fd, idx, state, status, chunked, close_after;
    long clen;           /* remaining body bytes with Content-Length; -1 when chunked or until close */
    int cstate;          /* chunk decoder */
    long cremain;
    char csize[24];
    int csize_len;
    char hdr[8192];
    int hdr_len;
    /* SSE */
    char line[2048];
    int line_len, line_overflow, has_n;
    char cur_id[64], last_id[64];
    long cur_n;
    long long cur_t;
    unsigned long long last_a, last_b;
    int have_last;
    long frames, dups, disorder, distinct, reconnect_at;
    int reconnected;
    long long reconnect_due;
    unsigned char *seen;
    /* publisher */
    char out[512];
    int out_len, out_off;
} conn_t;

static int g_port;
static int g_ep;
static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static void die(const char *m) { fprintf(stderr, "sseload: %s: %s\n", m, strerror(errno)); exit(2); }

static double cpu_of_self(int who) {
    struct rusage ru;
    getrusage(who, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ---------------------------------------------------------------- /proc readings */

typedef struct { long rss_kib, pss_kib, fds, threads; long long ticks; } pstat_t;

static int read_pstat(int pid, pstat_t *p) {
    char path[64], buf[4096];
    memset(p, 0, sizeof *p);
    /* PSS (proportional set size): nginx's master and workers share pages (and nchan's shared memory
       zone); summing their RSS would count those once per process. */
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
    FILE *sm = fopen(path, "r");
    if (sm) {
        while (fgets(buf, sizeof buf, sm))
            if (!strncmp(buf, "Pss:", 4)) p->pss_kib = atol(buf + 4);
        fclose(sm);
    }
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *s = strrchr(buf, ')');
    if (!s) return -1;
    /* after ") ": state(3) ppid(4) ... utime(14) stime(15) */
    unsigned long long ut = 0, st = 0;
    int field = 2;
    char *tok = strtok(s + 2, " ");
    while (tok) {
        field++;
        if (field == 14) ut = strtoull(tok, 0, 10);
        if (field == 15) { st = strtoull(tok, 0, 10); break; }
        tok = strtok(0, " ");
    }
    p->ticks = (long long)(ut + st);
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    f = fopen(path, "r");
    if (!f) return -1;
    while (fgets(buf, sizeof buf, f)) {
        if (!strncmp(buf, "VmRSS:", 6)) p->rss_kib = atol(buf + 6);
        if (!strncmp(buf, "Threads:", 8)) p->threads = atol(buf + 8);
    }
    fclose(f);
    snprintf(path, sizeof path, "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) if (e->d_name[0] != '.') p->fds++;
        closedir(d);
    }
    return 0;
}

/* The nginx master and its workers (children of the master). */
static int nginx_pids(int master, int *out, int max) {
    int n = 0;
    if (master <= 0) return 0;
    out[n++] = master;
    DIR *d = opendir("/proc");
    struct dirent *e;
    char path[300], buf[512];
    while (d && (e = readdir(d)) && n < max) {
        if (!isdigit((unsigned char)e->d_name[0])) continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t k = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[k] = 0;
        char *s = strrchr(buf, ')');
        int ppid = 0;
        if (s && sscanf(s + 2, "%*c %d", &ppid) == 1 && ppid == master) out[n++] = atoi(e->d_name);
    }
    if (d) closedir(d);
    return n;
}

static long long server_ticks(int rj, int ngx) {
    int pids[16];
    int n = nginx_pids(ngx, pids, 16);
    long long t = 0;
    pstat_t p;
    if (rj > 0 && read_pstat(rj, &p) == 0) t += p.ticks;
    for (int i = 0; i < n; i++) if (read_pstat(pids[i], &p) == 0) t += p.ticks;
    return t;
}

/* JSON of the responder and nginx processes right now. */
static void print_procs(FILE *o, int rj, int ngx) {
    pstat_t p;
    fprintf(o, "{\"responder\":");
    if (rj > 0 && read_pstat(rj, &p) == 0)
        fprintf(o, "{\"rss_kib\":%ld,\"pss_kib\":%ld,\"fds\":%ld,\"threads\":%ld,\"ticks\":%lld}", p.rss_kib, p.pss_kib,
                p.fds, p.threads, p.ticks);
    else
        fprintf(o, "null");
    int pids[16];
    int n = nginx_pids(ngx, pids, 16);
    fprintf(o, ",\"nginx\":[");
    for (int i = 0; i < n; i++) {
        read_pstat(pids[i], &p);
        fprintf(o, "%s{\"pid\":%d,\"master\":%s,\"rss_kib\":%ld,\"pss_kib\":%ld,\"fds\":%ld,\"ticks\":%lld}",
                i ? "," : "", pids[i], i == 0 ? "true" : "false", p.rss_kib, p.pss_kib, p.fds, p.ticks);
    }
    fprintf(o, "]}");
}

/* ---------------------------------------------------------------- connections */

static int open_conn(conn_t *c, int events) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(g_port), .sin_addr.s_addr = htonl(0x7f000001)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) { close(fd); return -1; }
    c->fd = fd;
    c->state = ST_CONNECTING;
    c->status = 0;
    c->hdr_len = 0;
    c->chunked = 0;
    c->clen = -1;
    c->cstate = CH_SIZE;
    c->csize_len = 0;
    c->line_len = 0;
    c->line_overflow = 0;
    c->has_n = 0;
    c->cur_id[0] = 0;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
    return 0;
}

static void close_conn(conn_t *c, int state) {
    if (c->fd >= 0) { epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, 0); close(c->fd); }
    c->fd = -1;
    c->state = state;
}

/* Parses the response head in c->hdr; returns the offset of the body, 0 when incomplete. */
static int parse_head(conn_t *c) {
    char *end = memmem(c->hdr, c->hdr_len, "\r\n\r\n", 4);
    if (!end) return 0;
    *end = 0;
    c->status = 0;
    sscanf(c->hdr, "HTTP/1.%*d %d", &c->status);
    c->chunked = strcasestr(c->hdr, "\ntransfer-encoding: chunked") != 0;
    c->close_after = strcasestr(c->hdr, "\nconnection: close") != 0;
    char *cl = strcasestr(c->hdr, "\ncontent-length:");
    c->clen = (!c->chunked && cl) ? atol(cl + 16) : -1;
    c->cstate = CH_SIZE;
    c->csize_len = 0;
    return (int)(end - c->hdr) + 4;
}

/* Runs `f` over the body bytes of buf (de-chunking when chunked); returns 1 when the body ended. */
typedef void (*body_fn)(conn_t *, const char *, int, long long);
static int feed_body(conn_t *c, const char *buf, int len, long long t, body_fn f) {
    if (!c->chunked) {
        if (c->clen >= 0) {
            int take = len < c->clen ? len : (int)c->clen;
            if (f) f(c, buf, take, t);
            c->clen -= take;
            return c->clen == 0;
        }
        if (f) f(c, buf, len, t);
        return 0;
    }
    int i = 0;
    while (i < len) {
        if (c->cstate == CH_SIZE) {
            char ch = buf[i++];
            if (ch == '\n') {
                c->csize[c->csize_len] = 0;
                c->cremain = strtol(c->csize, 0, 16);
                c->csize_len = 0;
                c->cstate = c->cremain ? CH_DATA : CH_DONE;
                if (c->cstate == CH_DONE) return 1;
            } else if (ch != '\r' && c->csize_len < 20) {
                c->csize[c->csize_len++] = ch;
            }
        } else if (c->cstate == CH_DATA) {
            int take = len - i < c->cremain ? len - i : (int)c->cremain;
            if (f) f(c, buf + i, take, t);
            i += take;
            c->cremain -= take;
            if (!c->cremain) c->cstate = CH_CRLF;
        } else if (c->cstate == CH_CRLF) {
            if (buf[i++] == '\n') c->cstate = CH_SIZE;
        } else {
            return 1;
        }
    }
    return c->cstate == CH_DONE;
}

/* ---------------------------------------------------------------- subscriber side */

static int g_resume, g_events;
static long long g_gap_ns;
static long long *g_lat;
static long g_lat_n, g_lat_cap;
static long g_total_distinct;

static void id_pair(const char *id, unsigned long long *a, unsigned long long *b) {
    char *end;
    *a = strtoull(id, &end, 10);
    *b = (*end == ':') ? strtoull(end + 1, 0, 10) : 0;
}

static void dispatch(conn_t *c, long long t) {
    if (c->cur_id[0]) {
        unsigned long long a, b;
        id_pair(c->cur_id, &a, &b);
        if (c->has_n) {
            if (c->have_last && (a < c->last_a || (a == c->last_a && b <= c->last_b))) c->disorder++;
            c->last_a = a;
            c->last_b = b;
            c->have_last = 1;
        }
        memcpy(c->last_id, c->cur_id, sizeof c->last_id);
    }
    if (c->has_n && c->cur_n >= 0 && c->cur_n < g_events) {
        c->frames++;
        if (g_lat_n == g_lat_cap) {
            g_lat_cap = g_lat_cap ? g_lat_cap * 2 : 1 << 16;
            g_lat = realloc(g_lat, g_lat_cap * sizeof *g_lat);
            if (!g_lat) die("realloc");
        }
        g_lat[g_lat_n++] = t - c->cur_t;
        unsigned char bit = 1u << (c->cur_n & 7);
        if (c->seen[c->cur_n >> 3] & bit) {
            c->dups++;
        } else {
            c->seen[c->cur_n >> 3] |= bit;
            c->distinct++;
            g_total_distinct++;
        }
    }
    c->has_n = 0;
    c->cur_id[0] = 0;
}

static void sse_line(conn_t *c, char *l, int n, long long t) {
    if (n && l[n - 1] == '\r') l[--n] = 0;
    if (n == 0) { dispatch(c, t); return; }
    if (!strncmp(l, "id:", 3)) {
        const char *v = l + 3 + (l[3] == ' ');
        snprintf(c->cur_id, sizeof c->cur_id, "%s", v);
    } else if (!strncmp(l, "data:", 5)) {
        char *tp = strstr(l, "\"t\":"), *np = strstr(l, "\"n\":");
        if (tp && np) {
            c->cur_t = strtoll(tp + 4, 0, 10);
            c->cur_n = strtol(np + 4, 0, 10);
            c->has_n = 1;
        }
    }
}

static void sse_feed(conn_t *c, const char *buf, int len, long long t) {
    for (int i = 0; i < len; i++) {
        char ch = buf[i];
        if (ch == '\n') {
            c->line[c->line_len < (int)sizeof c->line ? c->line_len : (int)sizeof c->line - 1] = 0;
            sse_line(c, c->line, c->line_len < (int)sizeof c->line ? c->line_len : (int)sizeof c->line - 1, t);
            c->line_len = 0;
        } else if (c->line_len < (int)sizeof c->line - 1) {
            c->line[c->line_len++] = ch;
        }
    }
}

static void send_sub_request(conn_t *c, const char *path) {
    char req[1024];
    int n;
    if (c->last_id[0])
        n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                     "Last-Event-ID: %s\r\n\r\n", path, c->last_id);
    else
        n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n", path);
    /* The request is tiny: a fresh socket's send buffer always takes it whole. */
    if (send(c->fd, req, n, MSG_NOSIGNAL) != n) { close_conn(c, ST_FAILED); return; }
    c->state = ST_HEADERS;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static char g_rbuf[1 << 18];

/* Handles readiness of a subscriber; returns -1 when the connection ended or failed. */
static int sub_ready(conn_t *c, uint32_t events, const char *path) {
    if (c->state == ST_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err || (events & (EPOLLERR | EPOLLHUP))) { close_conn(c, ST_FAILED); return -1; }
        send_sub_request(c, path);
        return c->state == ST_FAILED ? -1 : 0;
    }
    for (;;) {
        ssize_t n = read(c->fd, g_rbuf, sizeof g_rbuf);
        if (n < 0 && errno == EAGAIN) return 0;
        if (n <= 0) { close_conn(c, c->state == ST_BODY ? ST_ENDED : ST_FAILED); return -1; }
        long long t = now_ns();
        const char *p = g_rbuf;
        int len = (int)n;
        if (c->state == ST_HEADERS) {
            int take = len < (int)sizeof c->hdr - 1 - c->hdr_len ? len : (int)sizeof c->hdr - 1 - c->hdr_len;
            memcpy(c->hdr + c->hdr_len, p, take);
            c->hdr_len += take;
            c->hdr[c->hdr_len] = 0;
            int before = c->hdr_len - take;
            int body = parse_head(c);
            if (!body) continue;
            if (c->status != 200) { close_conn(c, ST_FAILED); return -1; }
            c->state = ST_BODY;
            p += body - before;
            len -= body - before;
        }
        if (len > 0 && feed_body(c, p, len, t, sse_feed)) { close_conn(c, ST_ENDED); return -1; }
        if (g_resume && !c->reconnected && c->distinct >= c->reconnect_at) {
            close_conn(c, ST_WAIT_RECONNECT);
            c->reconnect_due = now_ns() + g_gap_ns;
            return 0;
        }
    }
}

/* ---------------------------------------------------------------- publisher (child process) */

typedef struct {
    long sent, ok, failed, reconnects, lagging;
    long long max_late_ns;
    double elapsed_s, cpu_s;
} pubres_t;

static void publisher(const char *path, int kind_rj, int count, double rate, int nconns, pubres_t *r) {
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    conn_t *cs = calloc(nconns, sizeof *cs);
    int idle[256], nidle = 0;
    for (int i = 0; i < nconns; i++) {
        cs[i].idx = i;
        cs[i].fd = -1;
        if (open_conn(&cs[i], EPOLLOUT | EPOLLIN) < 0) die("publisher connect");
    }
    memset(r, 0, sizeof *r);
    long next = 0, done = 0;
    long long t0 = now_ns() + 20000000LL;  /* 20 ms to connect */
    double period = 1e9 / rate;
    struct epoll_event evs[256];
    while (done < count) {
        long long now = now_ns();
        while (next < count && nidle > 0 && now >= t0 + (long long)(next * period)) {
            conn_t *c = &cs[idle[--nidle]];
            char body[160];
            long long late = now - (t0 + (long long)(next * period));
            if (late > r->max_late_ns) r->max_late_ns = late;
            if (late > 1000000) r->lagging++;
            long long ts = now_ns();
            int bl = kind_rj ? snprintf(body, sizeof body, "{\"type\":\"x\",\"data\":{\"t\":%lld,\"n\":%ld}}", ts, next)
                             : snprintf(body, sizeof body, "{\"t\":%lld,\"n\":%ld}", ts, next);
            c->out_len = snprintf(c->out, sizeof c->out, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                                  "application/json\r\nContent-Length: %d\r\n\r\n%s", path, bl, body);
            c->out_off = 0;
            c->hdr_len = 0;
            c->state = ST_HEADERS;
            ssize_t w = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
            if (w > 0) c->out_off = (int)w;
            if (c->out_off < c->out_len) {
                struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
                epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
            }
            r->sent++;
            next++;
        }
        int timeout = 100;
        if (next < count && nidle > 0) {
            long long due = t0 + (long long)(next * period) - now_ns();
            timeout = due <= 0 ? 0 : (int)(due / 1000000);
        }
        int n = epoll_wait(g_ep, evs, 256, timeout);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        if (n <= 0 && timeout == 0) continue;
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c->state == ST_CONNECTING) {
                int err = 0;
                socklen_t l = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
                if (err) die("publisher connect");
                c->state = ST_IDLE;
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
                idle[nidle++] = c->idx;
                continue;
            }
            if ((evs[i].events & EPOLLOUT) && c->out_off < c->out_len) {
                ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
                if (w > 0) c->out_off += (int)w;
                if (c->out_off == c->out_len) {
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
            }
            if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
            ssize_t rn = read(c->fd, g_rbuf, sizeof g_rbuf);
            if (rn < 0 && errno == EAGAIN) continue;
            if (rn <= 0) {
                /* The server closed a kept connection: count the request in flight as failed, reconnect. */
                if (c->state == ST_HEADERS || c->state == ST_BODY) { r->failed++; done++; }
                if (c->state == ST_IDLE)
                    for (int k = 0; k < nidle; k++)
                        if (idle[k] == c->idx) { idle[k] = idle[--nidle]; break; }
                close_conn(c, ST_FAILED);
                r->reconnects++;
                if (open_conn(c, EPOLLOUT | EPOLLIN) < 0) die("publisher reconnect");
                continue;
            }
            const char *p = g_rbuf;
            int len = (int)rn;
            if (c->state == ST_HEADERS) {
                int room = (int)sizeof c->hdr - 1 - c->hdr_len;
                int take = len < room ? len : room;
                memcpy(c->hdr + c->hdr_len, p, take);
                c->hdr_len += take;
                c->hdr[c->hdr_len] = 0;
                int before = c->hdr_len - take;
                int body = parse_head(c);
                if (!body) continue;
                c->state = ST_BODY;
                p += body - before;
                len -= body - before;
                if (!c->chunked && c->clen <= 0) goto complete;
            }
            if (c->state == ST_BODY && len >= 0 && feed_body(c, p, len, 0, 0)) goto complete;
            continue;
        complete:
            if (c->status >= 200 && c->status < 300) r->ok++; else r->failed++;
            done++;
            if (c->close_after) {
                /* nginx ends a kept connection after keepalive_requests; open the next one now. */
                close_conn(c, ST_FAILED);
                r->reconnects++;
                if (open_conn(c, EPOLLOUT | EPOLLIN) < 0) die("publisher reconnect");
                continue;
            }
            c->state = ST_IDLE;
            idle[nidle++] = c->idx;
        }
    }
    r->elapsed_s = (now_ns() - t0) / 1e9;
    r->cpu_s = cpu_of_self(RUSAGE_SELF);
}

/* ---------------------------------------------------------------- sub mode */

static int cmp_ll(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}
static double pct(long p1000) {
    if (!g_lat_n) return -1;
    long i = (long)((double)p1000 / 1000.0 * (g_lat_n - 1) + 0.5);
    return g_lat[i] / 1e6;
}

static const char *arg(int argc, char **argv, const char *name, const char *def) {
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], name)) return (i + 1 < argc && strncmp(argv[i + 1], "--", 2)) ? argv[i + 1] : "1";
    return def;
}

static int sub_main(int argc, char **argv) {
    const char *path = arg(argc, argv, "--sub", 0), *pub = arg(argc, argv, "--pub", 0);
    const char *kind = arg(argc, argv, "--kind", "rj"), *cdf = arg(argc, argv, "--cdf", 0);
    const char *label = arg(argc, argv, "--label", "");
    int subs = atoi(arg(argc, argv, "--subs", "1"));
    g_events = atoi(arg(argc, argv, "--events", "2000"));
    double rate = atof(arg(argc, argv, "--rate", "200"));
    int pconns = atoi(arg(argc, argv, "--pub-conns", "1"));
    g_resume = arg(argc, argv, "--resume", 0) != 0;
    g_gap_ns = atoll(arg(argc, argv, "--reconnect-gap-ms", "300")) * 1000000LL;
    int rj = atoi(arg(argc, argv, "--rj-pid", "0")), ngx = atoi(arg(argc, argv, "--nginx-pid", "0"));
    double drain = atof(arg(argc, argv, "--drain-s", "30"));
    if (!path || !pub) { fprintf(stderr, "sseload sub: --sub and --pub are required\n"); return 2; }
    if (pconns > 256) pconns = 256;

    g_ep = epoll_create1(EPOLL_CLOEXEC);
    conn_t *cs = calloc(subs, sizeof *cs);
    srand(12345);
    for (int i = 0; i < subs; i++) {
        cs[i].idx = i;
        cs[i].fd = -1;
        cs[i].state = ST_IDLE;
        cs[i].seen = calloc((g_events + 7) / 8, 1);
        cs[i].reconnect_at = g_events / 5 + rand() % (g_events * 3 / 5 + 1);
    }
    /* Connect everyone (at most 200 connects in flight) and wait for every response head. */
    int opened = 0, pending = 0, failed_connect = 0;
    struct epoll_event evs[1024];
    long long deadline = now_ns() + 120000000000LL;
    for (;;) {
        while (opened < subs && pending < 200) {
            if (open_conn(&cs[opened], EPOLLOUT) < 0) die("connect");
            opened++;
            pending++;
        }
        int established = 0;
        pending = 0;
        for (int i = 0; i < opened; i++) {
            if (cs[i].state == ST_BODY) established++;
            else if (cs[i].state == ST_CONNECTING || cs[i].state == ST_HEADERS) pending++;
        }
        failed_connect = opened - established - pending;
        if (opened == subs && pending == 0) break;
        if (now_ns() > deadline) break;
        int n = epoll_wait(g_ep, evs, 1024, 50);
        for (int i = 0; i < n; i++) sub_ready(evs[i].data.ptr, evs[i].events, path);
    }
    /* Let the server finish replays and settle. */
    long long settle = now_ns() + 500000000LL;
    while (now_ns() < settle) {
        int n = epoll_wait(g_ep, evs, 1024, 50);
        for (int i = 0; i < n; i++) sub_ready(evs[i].data.ptr, evs[i].events, path);
    }

    int pfd[2];
    if (pipe(pfd) < 0) die("pipe");
    long long cpu0 = server_ticks(rj, ngx);
    double client0 = cpu_of_self(RUSAGE_SELF);
    long long t_start = now_ns();
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        /* Drop every inherited subscriber socket: a connection this process closes must really close. */
        for (int fd = 3; fd < 65536; fd++) if (fd != pfd[1]) close(fd);
        pubres_t r;
        publisher(pub, !strcmp(kind, "rj"), g_events, rate, pconns, &r);
        if (write(pfd[1], &r, sizeof r) != sizeof r) _exit(3);
        _exit(0);
    }
    close(pfd[1]);
    long long pub_end = 0;
    int children_left = 1;
    for (;;) {
        if (children_left && waitpid(child, 0, WNOHANG) == child) { children_left = 0; pub_end = now_ns(); }
        if (g_total_distinct >= (long)subs * g_events) break;
        if (pub_end && now_ns() - pub_end > (long long)(drain * 1e9)) break;
        int n = epoll_wait(g_ep, evs, 1024, 5);
        long long now = now_ns();
        for (int i = 0; i < n; i++) sub_ready(evs[i].data.ptr, evs[i].events, path);
        if (g_resume)
            for (int i = 0; i < subs; i++)
                if (cs[i].state == ST_WAIT_RECONNECT && now >= cs[i].reconnect_due) {
                    cs[i].reconnected = 1;
                    if (open_conn(&cs[i], EPOLLOUT) < 0) die("reconnect");
                }
    }
    long long t_end = now_ns();
    long long cpu1 = server_ticks(rj, ngx);
    double client1 = cpu_of_self(RUSAGE_SELF);
    if (children_left) waitpid(child, 0, 0);
    pubres_t pr;
    memset(&pr, 0, sizeof pr);
    if (read(pfd[0], &pr, sizeof pr) != sizeof pr) fprintf(stderr, "sseload: no publisher result\n");

    long frames = 0, dups = 0, disorder = 0, distinct = 0, in_order = 0, complete = 0, ended = 0, reconnected = 0, perfect = 0;
    for (int i = 0; i < subs; i++) {
        frames += cs[i].frames;
        dups += cs[i].dups;
        disorder += cs[i].disorder;
        distinct += cs[i].distinct;
        if (!cs[i].disorder && !cs[i].dups) in_order++;
        if (cs[i].distinct == g_events) complete++;
        if (cs[i].distinct == g_events && !cs[i].disorder && !cs[i].dups) perfect++;
        if (cs[i].state == ST_ENDED || cs[i].state == ST_FAILED) ended++;
        reconnected += cs[i].reconnected;
    }
    /* A few of the missing events by subscriber and n, for diagnosis. */
    int shown = 0;
    for (int i = 0; i < subs && shown < 5; i++)
        for (long k = 0; k < g_events && shown < 5; k++)
            if (!(cs[i].seen[k >> 3] & (1u << (k & 7)))) {
                fprintf(stderr, "sseload %s: subscriber %d never got event %ld (reconnected after %ld, last id %s)\n",
                        label, i, k, cs[i].reconnect_at, cs[i].last_id);
                shown++;
                break;
            }
    qsort(g_lat, g_lat_n, sizeof *g_lat, cmp_ll);
    double sum = 0;
    for (long i = 0; i < g_lat_n; i++) sum += g_lat[i];
    long tck = sysconf(_SC_CLK_TCK);
    double server_cpu = (double)(cpu1 - cpu0) / tck;
    printf("{\"mode\":\"%s\",\"label\":\"%s\",\"subs\":%d,\"events\":%d,\"rate\":%.0f,\"pub_conns\":%d,"
           "\"failed_connect\":%d,\"expected\":%ld,\"delivered\":%ld,\"delivered_fraction\":%.6f,"
           "\"frames\":%ld,\"duplicates\":%ld,\"missed\":%ld,\"out_of_order\":%ld,\"subs_in_order\":%d,"
           "\"subs_complete\":%ld,\"subs_every_event_once_in_order\":%ld,\"subs_ended_early\":%ld,\"reconnected\":%ld,"
           "\"latency_ms\":{\"count\":%ld,\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f},"
           "\"elapsed_s\":%.3f,\"server_cpu_s\":%.2f,\"server_cpu_us_per_delivery\":%.3f,"
           "\"client_cpu_s\":%.2f,\"publisher\":{\"sent\":%ld,\"ok\":%ld,\"failed\":%ld,\"reconnects\":%ld,"
           "\"late_over_1ms\":%ld,\"max_late_ms\":%.2f,\"elapsed_s\":%.3f,\"cpu_s\":%.2f},\"load\":\"",
           g_resume ? "resume" : "stream", label, subs, g_events, rate, pconns, failed_connect,
           (long)subs * g_events, distinct, (double)distinct / ((double)subs * g_events), frames, dups,
           (long)subs * g_events - distinct, disorder, (int)in_order, complete, perfect, ended, reconnected, g_lat_n,
           g_lat_n ? sum / g_lat_n / 1e6 : -1, pct(500), pct(900), pct(990), pct(999), pct(1000),
           (t_end - t_start) / 1e9, server_cpu, distinct ? server_cpu * 1e6 / distinct : -1,
           client1 - client0, pr.sent, pr.ok, pr.failed, pr.reconnects, pr.lagging, pr.max_late_ns / 1e6,
           pr.elapsed_s, pr.cpu_s);
    FILE *la = fopen("/proc/loadavg", "r");
    char lbuf[128] = "";
    if (la) { if (fgets(lbuf, sizeof lbuf, la)) lbuf[strcspn(lbuf, "\n")] = 0; fclose(la); }
    printf("%s\"}\n", lbuf);
    if (cdf && g_lat_n) {
        FILE *f = fopen(cdf, "w");
        if (!f) die("cdf");
        for (int q = 0; q <= 1000; q++) {
            long i = (long)((double)q / 1000.0 * (g_lat_n - 1));
            fprintf(f, "%.4f %.4f\n", g_lat[i] / 1e6, q / 1000.0);
        }
        fclose(f);
    }
    return 0;
}

/* ---------------------------------------------------------------- idle mode */

static int idle_main(int argc, char **argv) {
    const char *fmt = arg(argc, argv, "--sub-fmt", 0), *steps_s = arg(argc, argv, "--steps", "1000");
    const char *label = arg(argc, argv, "--label", "");
    int channels = atoi(arg(argc, argv, "--channels", "100"));
    int cpu_step = atoi(arg(argc, argv, "--cpu-step", "0"));
    double cpu_s = atof(arg(argc, argv, "--cpu-s", "60"));
    double settle_s = atof(arg(argc, argv, "--settle-s", "3"));
    int rj = atoi(arg(argc, argv, "--rj-pid", "0")), ngx = atoi(arg(argc, argv, "--nginx-pid", "0"));
    if (!fmt) { fprintf(stderr, "sseload idle: --sub-fmt is required\n"); return 2; }
    int steps[32], nsteps = 0, max = 0;
    char *copy = strdup(steps_s);
    for (char *t = strtok(copy, ","); t && nsteps < 32; t = strtok(0, ",")) {
        steps[nsteps++] = atoi(t);
        if (steps[nsteps - 1] > max) max = steps[nsteps - 1];
    }
    g_events = 1;
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    conn_t *cs = calloc(max, sizeof *cs);
    char (*paths)[128] = calloc(channels, 128);
    for (int i = 0; i < channels; i++) snprintf(paths[i], 128, fmt, i);
    for (int i = 0; i < max; i++) { cs[i].idx = i; cs[i].fd = -1; cs[i].seen = calloc(1, 1); }
    struct epoll_event evs[1024];
    int opened = 0;
    printf("{\"mode\":\"idle\",\"label\":\"%s\",\"channels\":%d,\"baseline\":", label, channels);
    print_procs(stdout, rj, ngx);
    printf(",\"steps\":[");
    double client0 = cpu_of_self(RUSAGE_SELF);
    for (int s = 0; s < nsteps; s++) {
        int target = steps[s];
        long long t0 = now_ns(), deadline = t0 + 180000000000LL;
        int established = 0, pending = 0, lost = 0;
        for (;;) {
            while (opened < target && pending < 200) {
                if (open_conn(&cs[opened], EPOLLOUT) < 0) { fprintf(stderr, "sseload: socket: %s\n", strerror(errno)); target = opened; break; }
                opened++;
                pending++;
            }
            int n = epoll_wait(g_ep, evs, 1024, 50);
            for (int i = 0; i < n; i++) {
                conn_t *c = evs[i].data.ptr;
                sub_ready(c, evs[i].events, paths[c->idx % channels]);
            }
            established = pending = lost = 0;
            for (int i = 0; i < opened; i++) {
                if (cs[i].state == ST_BODY) established++;
                else if (cs[i].state == ST_CONNECTING || cs[i].state == ST_HEADERS) pending++;
                else lost++;
            }
            if ((opened == target && pending == 0) || now_ns() > deadline) break;
        }
        double open_s = (now_ns() - t0) / 1e9;
        long long settle = now_ns() + (long long)(settle_s * 1e9);
        while (now_ns() < settle) {
            int n = epoll_wait(g_ep, evs, 1024, 100);
            for (int i = 0; i < n; i++) {
                conn_t *c = evs[i].data.ptr;
                sub_ready(c, evs[i].events, paths[c->idx % channels]);
            }
        }
        established = lost = 0;
        for (int i = 0; i < opened; i++) if (cs[i].state == ST_BODY) established++; else lost++;
        printf("%s{\"target\":%d,\"held\":%d,\"lost\":%d,\"open_s\":%.1f,\"procs\":", s ? "," : "", target,
               established, lost, open_s);
        print_procs(stdout, rj, ngx);
        if (target == cpu_step) {
            long long c0 = server_ticks(rj, ngx);
            pstat_t r0, r1;
            read_pstat(rj > 0 ? rj : getpid(), &r0);
            double cl0 = cpu_of_self(RUSAGE_SELF);
            long long end = now_ns() + (long long)(cpu_s * 1e9);
            while (now_ns() < end) {
                int n = epoll_wait(g_ep, evs, 1024, 200);
                for (int i = 0; i < n; i++) {
                    conn_t *c = evs[i].data.ptr;
                    sub_ready(c, evs[i].events, paths[c->idx % channels]);
                }
            }
            long long c1 = server_ticks(rj, ngx);
            read_pstat(rj > 0 ? rj : getpid(), &r1);
            int still = 0;
            for (int i = 0; i < opened; i++) if (cs[i].state == ST_BODY) still++;
            long tck = sysconf(_SC_CLK_TCK);
            printf(",\"cpu\":{\"seconds\":%.0f,\"server_cpu_s\":%.3f,\"responder_cpu_s\":%.3f,\"nginx_cpu_s\":%.3f,"
                   "\"client_cpu_s\":%.3f,\"held_after\":%d}", cpu_s, (double)(c1 - c0) / tck,
                   rj > 0 ? (double)(r1.ticks - r0.ticks) / tck : 0.0,
                   (double)(c1 - c0) / tck - (rj > 0 ? (double)(r1.ticks - r0.ticks) / tck : 0.0),
                   cpu_of_self(RUSAGE_SELF) - cl0, still);
        }
        printf("}");
        fflush(stdout);
        fprintf(stderr, "sseload idle %s: %d/%d streams held (%d lost) after %.1f s\n", label, established, target, lost, open_s);
        if (established < target) break;  /* no point ramping further */
    }
    printf("],\"client_cpu_s\":%.2f}\n", cpu_of_self(RUSAGE_SELF) - client0);
    return 0;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (argc < 2) { fprintf(stderr, "usage: sseload sub|idle --port P ...\n"); return 2; }
    g_port = atoi(arg(argc, argv, "--port", "8080"));
    if (!strcmp(argv[1], "sub")) return sub_main(argc, argv);
    if (!strcmp(argv[1], "idle")) return idle_main(argc, argv);
    fprintf(stderr, "sseload: unknown mode %s\n", argv[1]);
    return 2;
}
