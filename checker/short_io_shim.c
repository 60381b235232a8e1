/* The short-I/O shim: preloaded into a server (LD_PRELOAD) by the checker's
 * short_io test, it makes every read from a socket return at most a few bytes
 * and every write to a socket take only half of what it is given, as the
 * kernel is allowed to at any time (under memory pressure, with small
 * buffers, across a slow network). A server that is correct only when recv()
 * returns whole lines and send() takes everything fails here.
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
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

enum { kMaxRead = 3 };   /* bytes: lines arrive cut at every possible place */

static int is_socket(int fd) {
    struct stat info;
    int saved_errno = errno;
    int socket = fstat(fd, &info) == 0 && S_ISSOCK(info.st_mode);
    errno = saved_errno;
    return socket;
}

static size_t read_size(int fd, size_t asked) { return asked > kMaxRead && is_socket(fd) ? kMaxRead : asked; }
static size_t write_size(int fd, size_t asked) { return asked > 1 && is_socket(fd) ? asked / 2 : asked; }

/* The next definitions after this library (libc's, or a sanitizer's), looked
 * up once when the library is loaded: dlsym() is not async-signal-safe, and a
 * server's signal handler may write() to its self-pipe. */
static ssize_t (*next_recv)(int, void*, size_t, int);
static ssize_t (*next_read)(int, void*, size_t);
static ssize_t (*next_recvfrom)(int, void*, size_t, int, struct sockaddr*, socklen_t*);
static ssize_t (*next_send)(int, const void*, size_t, int);
static ssize_t (*next_write)(int, const void*, size_t);
static ssize_t (*next_sendto)(int, const void*, size_t, int, const struct sockaddr*, socklen_t);
static ssize_t (*next_recv_chk)(int, void*, size_t, size_t, int);
static ssize_t (*next_read_chk)(int, void*, size_t, size_t);
static ssize_t (*next_recvfrom_chk)(int, void*, size_t, size_t, int, struct sockaddr*, socklen_t*);

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
}

/* A call that comes before the constructor ran (from another library's own
 * constructor) looks the definitions up first. */
#define NEXT(pointer) (pointer ? pointer : (find_next_definitions(), pointer))

ssize_t recv(int fd, void* buffer, size_t length, int flags) {
    return NEXT(next_recv)(fd, buffer, read_size(fd, length), flags);
}

ssize_t read(int fd, void* buffer, size_t length) { return NEXT(next_read)(fd, buffer, read_size(fd, length)); }

ssize_t recvfrom(int fd, void* buffer, size_t length, int flags, struct sockaddr* address, socklen_t* address_length) {
    return NEXT(next_recvfrom)(fd, buffer, read_size(fd, length), flags, address, address_length);
}

ssize_t send(int fd, const void* buffer, size_t length, int flags) {
    return NEXT(next_send)(fd, buffer, write_size(fd, length), flags);
}

ssize_t write(int fd, const void* buffer, size_t length) {
    return NEXT(next_write)(fd, buffer, write_size(fd, length));
}

ssize_t sendto(int fd, const void* buffer, size_t length, int flags, const struct sockaddr* address,
               socklen_t address_length) {
    return NEXT(next_sendto)(fd, buffer, write_size(fd, length), flags, address, address_length);
}

/* _FORTIFY_SOURCE calls these when the buffer's size is known but the length
 * is not a constant. The size check is theirs; the shim only shortens. */
ssize_t __recv_chk(int fd, void* buffer, size_t length, size_t buffer_size, int flags);
ssize_t __read_chk(int fd, void* buffer, size_t length, size_t buffer_size);
ssize_t __recvfrom_chk(int fd, void* buffer, size_t length, size_t buffer_size, int flags, struct sockaddr* address,
                       socklen_t* address_length);

ssize_t __recv_chk(int fd, void* buffer, size_t length, size_t buffer_size, int flags) {
    return NEXT(next_recv_chk)(fd, buffer, read_size(fd, length), buffer_size, flags);
}

ssize_t __read_chk(int fd, void* buffer, size_t length, size_t buffer_size) {
    return NEXT(next_read_chk)(fd, buffer, read_size(fd, length), buffer_size);
}

ssize_t __recvfrom_chk(int fd, void* buffer, size_t length, size_t buffer_size, int flags, struct sockaddr* address,
                       socklen_t* address_length) {
    return NEXT(next_recvfrom_chk)(fd, buffer, read_size(fd, length), buffer_size, flags, address, address_length);
}
