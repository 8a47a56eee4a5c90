#ifndef RUNJOURNAL_CFASTCGI_SHIM_H
#define RUNJOURNAL_CFASTCGI_SHIM_H
// libfcgi's thread-safe request API (fcgiapp.h, Debian libfcgi-dev 2.4.2), plus the few signal-handler
// helpers FastCGIServer needs. A system-library target cannot hold .c files, so the helpers are
// `static inline`: they are compiled into the one Swift module that calls them (FastCGIServer).
#include <fcgiapp.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <malloc.h>
#include <sys/prctl.h>
#include <sched.h>

// GNU extensions the Glibc module does not export (it is built without _GNU_SOURCE).
extern int pthread_setname_np(pthread_t thread, const char *name);
extern int pthread_getattr_np(pthread_t thread, pthread_attr_t *attr);

// Write end of the self-pipe that relays SIGTERM/SIGINT to a Swift thread. Set once before the handlers
// are installed; the handler only reads it.
static volatile int runjournal_signal_pipe_fd = -1;

// Async-signal-safe: one write(2) of the signal number, errno preserved. The pipe is non-blocking, so a
// burst of signals that fills it is dropped rather than blocking the interrupted thread.
static inline void runjournal_relay_signal(int signo) {
    int saved = errno;
    int fd = runjournal_signal_pipe_fd;
    if (fd >= 0) {
        unsigned char byte = (unsigned char)signo;
        ssize_t ignored = write(fd, &byte, 1);
        (void)ignored;
    }
    errno = saved;
}

// Installs the relay for `signo`, writing to `pipe_fd`. SA_RESTART so that unrelated blocking calls in
// other threads (reads of request bodies, accept) are not failed with EINTR by a shutdown request.
static inline int runjournal_install_signal_relay(int signo, int pipe_fd) {
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    runjournal_signal_pipe_fd = pipe_fd;
    action.sa_handler = runjournal_relay_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    return sigaction(signo, &action, NULL);
}

// Restores the default disposition (used when no server wants the signal any more).
static inline int runjournal_restore_default_signal(int signo) {
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    return sigaction(signo, &action, NULL);
}

static inline int runjournal_ignore_signal(int signo) {
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = SIG_IGN;
    sigemptyset(&action.sa_mask);
    return sigaction(signo, &action, NULL);
}

static inline void runjournal_wake_handler(int signo) { (void)signo; }

// The signal used to interrupt, when the server stops, an acceptor thread blocked in accept(2) and a worker
// blocked in read(2) inside FCGX_Accept_r waiting for its connection's next request. A real-time signal
// nobody else uses; its handler does nothing and is installed WITHOUT SA_RESTART, so the interrupted call
// fails with EINTR: the acceptor loop then sees the stop flag, and libfcgi closes the worker's connection.
static inline int runjournal_wake_signal(void) { return SIGRTMIN + 3; }

static inline int runjournal_install_wake_handler(void) {
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = runjournal_wake_handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;
    return sigaction(runjournal_wake_signal(), &action, NULL);
}

// Unblocks the wake-up signal in the calling thread. A thread inherits its creator's signal mask, and a
// server started from a thread that blocks signals (libdispatch's worker threads block nearly all of them,
// so any thread started from a Swift task does too) would otherwise never see the wake-up: every stop
// would wait out the acceptors' deadline instead.
static inline int runjournal_unblock_wake_signal(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, runjournal_wake_signal());
    return pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

// Linux 6.16+ gives each multi-threaded process a private futex hash sized for its CPU count (16 buckets on
// 2 CPUs). With thousands of stream threads parked on condition variables, every wake-up then walks long
// bucket chains: measured at 9,900 idle streams, 21 % of a core vs 4.6 % with the global hash. This asks for
// the global hash (PR_FUTEX_HASH = 78, PR_FUTEX_HASH_SET_SLOTS = 1, 0 slots). Older kernels (Debian 12's
// 6.1) have only the global hash and answer EINVAL, which is fine.
static inline int runjournal_use_global_futex_hash(void) {
    return prctl(78, 1, 0, 0, 0);
}

// Puts the calling thread under SCHED_BATCH (nice value unchanged). Request workers are woken by the web
// server's every write to their connection; as normal threads each wake-up preempts the web server's worker
// in the middle of its event-loop batch, and both pay a context switch more per request. A batch thread
// waits for the running one to yield, which measured 15-25 % more short requests per second through nginx on
// 2 cores. Linux only (SCHED_BATCH = 3, a GNU constant the Glibc module does not export).
static inline int runjournal_use_batch_scheduling(void) {
    struct sched_param parameters;
    memset(&parameters, 0, sizeof(parameters));
    return sched_setscheduler(0, 3, &parameters);
}

// Declared here rather than through <sys/socket.h> and <netinet/tcp.h>: including those in this module
// hides SOCK_CLOEXEC and friends from Swift code that also imports Glibc (they would be defined twice).
// Values from the Linux ABI: SOCK_CLOEXEC = O_CLOEXEC, IPPROTO_TCP = 6, TCP_NODELAY = 1.
struct sockaddr;
extern int accept4(int fd, struct sockaddr *address, unsigned int *length, int flags);
extern int setsockopt(int fd, int level, int name, const void *value, unsigned int length);
extern int getsockname(int fd, struct sockaddr *address, unsigned int *length);

// Accepts one connection on the (blocking) listening socket: the new descriptor, or -1 with errno. The
// acceptor threads call this rather than libfcgi's accept, which goes on to wait for and read the request's
// parameters on the acceptor itself, so a client that connects and then stalls would hold an acceptor (two
// such clients, every new connection). `tcp`: disable Nagle, as libfcgi's own accept does, so a stream's
// small flushed frames are not held back.
static inline int runjournal_accept(int listen_fd, int tcp) {
    int fd = accept4(listen_fd, NULL, NULL, 02000000 /* SOCK_CLOEXEC */);
    if (fd >= 0 && tcp) {
        int on = 1;
        (void)setsockopt(fd, 6 /* IPPROTO_TCP */, 1 /* TCP_NODELAY */, &on, sizeof(on));
    }
    return fd;
}

// The address family of a socket (AF_UNIX, AF_INET, AF_INET6), or -1.
static inline int runjournal_socket_family(int fd) {
    // A sockaddr_storage's worth (128 bytes), suitably aligned; sa_family_t (unsigned short) comes first.
    union { unsigned short family; unsigned char bytes[128]; unsigned long alignment; } address;
    unsigned int length = sizeof(address);
    if (getsockname(fd, (struct sockaddr *)&address, &length) != 0) return -1;
    return address.family;
}

// Returns freed heap memory to the kernel (after a burst of streams, whose buffers glibc keeps otherwise).
static inline void runjournal_release_free_memory(void) {
    malloc_trim(0);
}

#endif
