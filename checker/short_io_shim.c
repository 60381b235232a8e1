/* The checker's shim, preloaded into a server (LD_PRELOAD) by two tests.
 *
 * short_io (IOLAB_SHORT_IO=1 in the environment): reads and writes on sockets
 * come up short, as the kernel may make them at any time. How depends on the
 * socket, so that the shim never breaks a promise the kernel keeps:
 *   - a blocking socket: every read returns at most a few bytes and every
 *     write takes half of what it is given. A blocking call waits for what it
 *     still needs, so nothing is lost by shortening it.
 *   - a non-blocking socket: nothing is shortened by the shim. epoll(7) says
 *     that on a stream socket a read that returns less than asked, or a write
 *     that takes less than given, means the buffer is exhausted for now, and an
 *     edge-triggered server may wait for the next edge on it; a shortened call
 *     would leave data (or room) behind with no edge to come. Instead listen()
 *     gives the listening socket tiny buffers, which its connections inherit:
 *     the kernel itself then returns short reads and takes short writes, with
 *     readiness that matches (the test's client reads slowly).
 *
 * client_reset (always, while loaded): a send() or write() on a socket without
 * MSG_NOSIGNAL while SIGPIPE has its default action and is not blocked is a
 * latent crash: the first write after a reset fails with ECONNRESET, but one
 * after another failed write raises SIGPIPE and kills the process. The shim
 * notes the first such call on the server's stderr (kLatentSigpipeNote), which
 * the checker reads.
 *
 * Only sockets are affected: files, pipes and the terminal are left alone.
 * recv, read, recvfrom, send, write and sendto are wrapped, with the
 * _FORTIFY_SOURCE variants (__recv_chk...) the compiler substitutes; the
 * scatter/gather calls (readv, recvmsg, writev, sendmsg) are not.
 *
 * Built by the Makefile as $(BUILD)/short_io_shim.so, never with sanitizers:
 * it is loaded into sanitized servers too (ASAN_OPTIONS=verify_asan_link_order=0
 * lets AddressSanitizer accept a library preloaded before it). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

enum { kMaxRead = 3 }; /* bytes: lines arrive cut at every possible place */
/* Socket buffers of a listening socket under short_io: the kernel raises
 * them to its minimum (some 4.5 KiB for sending, 2.3 KiB for receiving). */
enum { kTinyBuffer = 1024 };

/* What the checker looks for in the server's output (robustness_tests.cpp). */
static const char kLatentSigpipeNote[] =
    "iolab-shim: latent SIGPIPE: a write to a socket without MSG_NOSIGNAL while SIGPIPE has its default action\n";

static int short_io; /* IOLAB_SHORT_IO=1: this run is the short_io test */

static int is_socket(int fd) {
    struct stat info;
    int saved_errno = errno;
    int socket = fstat(fd, &info) == 0 && S_ISSOCK(info.st_mode);
    errno = saved_errno;
    return socket;
}

/* A blocking socket, and a call that may block on it (no MSG_DONTWAIT). */
static int is_blocking_socket(int fd, int flags) {
    int saved_errno = errno;
    int status = fcntl(fd, F_GETFL);
    errno = saved_errno;
    return status >= 0 && !(status & O_NONBLOCK) && !(flags & MSG_DONTWAIT) && is_socket(fd);
}

static size_t read_size(int fd, size_t asked, int flags) {
    return short_io && asked > kMaxRead && is_blocking_socket(fd, flags) ? kMaxRead : asked;
}
static size_t write_size(int fd, size_t asked, int flags) {
    return short_io && asked > 1 && is_blocking_socket(fd, flags) ? asked / 2 : asked;
}

static ssize_t (*next_write)(int, const void*, size_t);

/* Notes, once, a write that SIGPIPE would kill the server for. */
static void check_for_latent_sigpipe(int fd, int flags) {
    static volatile sig_atomic_t noted;
    if (noted || (flags & MSG_NOSIGNAL)) return;
    int saved_errno = errno;
    struct sigaction action;
    sigset_t blocked;
    int latent = sigaction(SIGPIPE, NULL, &action) == 0 && action.sa_handler == SIG_DFL &&
                 pthread_sigmask(SIG_BLOCK, NULL, &blocked) == 0 &&
                 !sigismember(&blocked, SIGPIPE) && is_socket(fd);
    if (latent) {
        noted = 1;
        (void)next_write(2, kLatentSigpipeNote, sizeof kLatentSigpipeNote - 1);
    }
    errno = saved_errno;
}

/* The next definitions after this library (libc's, or a sanitizer's), looked
 * up once when the library is loaded: dlsym() is not async-signal-safe, and a
 * server's signal handler may write() to its self-pipe. */
static ssize_t (*next_recv)(int, void*, size_t, int);
static ssize_t (*next_read)(int, void*, size_t);
static ssize_t (*next_recvfrom)(int, void*, size_t, int, struct sockaddr*, socklen_t*);
static ssize_t (*next_send)(int, const void*, size_t, int);
static ssize_t (*next_sendto)(int, const void*, size_t, int, const struct sockaddr*, socklen_t);
static ssize_t (*next_recv_chk)(int, void*, size_t, size_t, int);
static ssize_t (*next_read_chk)(int, void*, size_t, size_t);
static ssize_t (*next_recvfrom_chk)(int, void*, size_t, size_t, int, struct sockaddr*, socklen_t*);
static int (*next_listen)(int, int);

__attribute__((constructor)) static void find_next_definitions(void) {
    *(void**)&next_recv = dlsym(RTLD_NEXT, "recv");
    *(void**)&next_read = dlsym(RTLD_NEXT, "read");
    *(void**)&next_recvfrom = dlsym(RTLD_NEXT, "recvfrom");
    *(void**)&next_send = dlsym(RTLD_NEXT, "send");
    *(void**)&next_write = dlsym(RTLD_NEXT, "write");
    *(void**)&next_sendto = dlsym(RTLD_NEXT, "sendto");
    *(void**)&next_recv_chk = dlsym(RTLD_NEXT, "__recv_chk");
    *(void**)&next_read_chk = dlsym(RTLD_NEXT, "__read_chk");
    *(void**)&next_recvfrom_chk = dlsym(RTLD_NEXT, "__recvfrom_chk");
    *(void**)&next_listen = dlsym(RTLD_NEXT, "listen");
    const char* mode = getenv("IOLAB_SHORT_IO");
    short_io = mode && strcmp(mode, "1") == 0;
}

/* A call that comes before the constructor ran (from another library's own
 * constructor) looks the definitions up first. */
#define NEXT(pointer) (pointer ? pointer : (find_next_definitions(), pointer))

ssize_t recv(int fd, void* buffer, size_t length, int flags) {
    return NEXT(next_recv)(fd, buffer, read_size(fd, length, flags), flags);
}

ssize_t read(int fd, void* buffer, size_t length) {
    return NEXT(next_read)(fd, buffer, read_size(fd, length, 0));
}

ssize_t recvfrom(int fd, void* buffer, size_t length, int flags, struct sockaddr* address,
                 socklen_t* address_length) {
    return NEXT(next_recvfrom)(fd, buffer, read_size(fd, length, flags), flags, address,
                               address_length);
}

ssize_t send(int fd, const void* buffer, size_t length, int flags) {
    NEXT(next_send);
    check_for_latent_sigpipe(fd, flags);
    return next_send(fd, buffer, write_size(fd, length, flags), flags);
}

ssize_t write(int fd, const void* buffer, size_t length) {
    NEXT(next_write);
    check_for_latent_sigpipe(fd, 0);
    return next_write(fd, buffer, write_size(fd, length, 0));
}

ssize_t sendto(int fd, const void* buffer, size_t length, int flags, const struct sockaddr* address,
               socklen_t address_length) {
    NEXT(next_sendto);
    check_for_latent_sigpipe(fd, flags);
    return next_sendto(fd, buffer, write_size(fd, length, flags), flags, address, address_length);
}

/* _FORTIFY_SOURCE calls these when the buffer's size is known but the length
 * is not a constant. The size check is theirs; the shim only shortens. */
ssize_t __recv_chk(int fd, void* buffer, size_t length, size_t buffer_size, int flags);
ssize_t __read_chk(int fd, void* buffer, size_t length, size_t buffer_size);
ssize_t __recvfrom_chk(int fd, void* buffer, size_t length, size_t buffer_size, int flags,
                       struct sockaddr* address, socklen_t* address_length);

ssize_t __recv_chk(int fd, void* buffer, size_t length, size_t buffer_size, int flags) {
    return NEXT(next_recv_chk)(fd, buffer, read_size(fd, length, flags), buffer_size, flags);
}

ssize_t __read_chk(int fd, void* buffer, size_t length, size_t buffer_size) {
    return NEXT(next_read_chk)(fd, buffer, read_size(fd, length, 0), buffer_size);
}

ssize_t __recvfrom_chk(int fd, void* buffer, size_t length, size_t buffer_size, int flags,
                       struct sockaddr* address, socklen_t* address_length) {
    return NEXT(next_recvfrom_chk)(fd, buffer, read_size(fd, length, flags), buffer_size, flags,
                                   address, address_length);
}

/* Under short_io, the listening socket gets tiny buffers before it listens:
 * every connection it accepts inherits them, and the kernel then shortens
 * reads and writes on its own, with readiness to match. */
int listen(int fd, int backlog) {
    if (NEXT(next_listen) && short_io) {
        int size = kTinyBuffer;
        int saved_errno = errno;
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        errno = saved_errno;
    }
    return next_listen(fd, backlog);
}
