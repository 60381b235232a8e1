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

/* The next definition of `name` after this library: libc's, or a sanitizer's. */
#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

ssize_t recv(int fd, void* buffer, size_t length, int flags) {
    return NEXT(recv)(fd, buffer, read_size(fd, length), flags);
}

ssize_t read(int fd, void* buffer, size_t length) { return NEXT(read)(fd, buffer, read_size(fd, length)); }

ssize_t recvfrom(int fd, void* buffer, size_t length, int flags, struct sockaddr* address, socklen_t* address_length) {
    return NEXT(recvfrom)(fd, buffer, read_size(fd, length), flags, address, address_length);
}

ssize_t send(int fd, const void* buffer, size_t length, int flags) {
    return NEXT(send)(fd, buffer, write_size(fd, length), flags);
}

ssize_t write(int fd, const void* buffer, size_t length) { return NEXT(write)(fd, buffer, write_size(fd, length)); }

ssize_t sendto(int fd, const void* buffer, size_t length, int flags, const struct sockaddr* address,
               socklen_t address_length) {
    return NEXT(sendto)(fd, buffer, write_size(fd, length), flags, address, address_length);
}

/* _FORTIFY_SOURCE calls these when the buffer's size is known but the length
 * is not a constant. The size check is theirs; the shim only shortens. */
ssize_t __recv_chk(int fd, void* buffer, size_t length, size_t buffer_size, int flags);
ssize_t __read_chk(int fd, void* buffer, size_t length, size_t buffer_size);
ssize_t __recvfrom_chk(int fd, void* buffer, size_t length, size_t buffer_size, int flags, struct sockaddr* address,
                       socklen_t* address_length);

ssize_t __recv_chk(int fd, void* buffer, size_t length, size_t buffer_size, int flags) {
    return NEXT(__recv_chk)(fd, buffer, read_size(fd, length), buffer_size, flags);
}

ssize_t __read_chk(int fd, void* buffer, size_t length, size_t buffer_size) {
    return NEXT(__read_chk)(fd, buffer, read_size(fd, length), buffer_size);
}

ssize_t __recvfrom_chk(int fd, void* buffer, size_t length, size_t buffer_size, int flags, struct sockaddr* address,
                       socklen_t* address_length) {
    return NEXT(__recvfrom_chk)(fd, buffer, read_size(fd, length), buffer_size, flags, address, address_length);
}
