#include "interfaces.hpp"

namespace checker::interfaces {

const InterfaceFamily accepting{"accepting connections", "accept, accept4", {"accept", "accept4"}};
const InterfaceFamily process_creation{"process creation", "fork, vfork, posix_spawn",
                                       {"fork", "vfork", "_Fork", "posix_spawn", "posix_spawnp"}};
// std::thread, std::jthread and std::async all start their thread through
// libstdc++'s std::thread::_M_start_thread, which calls pthread_create itself.
const InterfaceFamily thread_creation{"thread creation", "pthread_create, std::thread",
                                      {"pthread_create", "thrd_create", "_ZNSt6thread15_M_start_thread*"}};
// With _FORTIFY_SOURCE, FD_SET and poll() go through the checked __fdelt_chk and __poll_chk.
const InterfaceFamily select_family{"select", "select, pselect", {"select", "pselect", "__fdelt_chk"}};
const InterfaceFamily poll_family{"poll", "poll, ppoll", {"poll", "ppoll", "__poll_chk", "__ppoll_chk"}};
const InterfaceFamily epoll_family{"epoll", "epoll_create1, epoll_ctl, epoll_wait",
                                   {"epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
                                    "epoll_pwait2"}};
const InterfaceFamily io_uring_family{"io_uring", "liburing's io_uring_*", {"io_uring_*"}};
const InterfaceFamily posix_aio_family{"asynchronous I/O", "aio_read, lio_listio, io_submit",
                                       {"aio_read", "aio_write", "aio_suspend", "lio_listio", "io_setup",
                                        "io_submit", "io_getevents"}};
const InterfaceFamily direct_socket_io{"direct socket I/O", "recv, send",
                                       {"recv", "recvfrom", "recvmsg", "send", "sendto", "sendmsg"}};

}  // namespace checker::interfaces

namespace checker {

std::vector<std::string> imported_from(const InterfaceFamily& family, const std::set<std::string>& imports) {
    std::vector<std::string> found;
    for (const std::string& function : family.functions) {
        if (function.empty() || function.back() != '*') {
            if (imports.count(function)) found.push_back(function);
            continue;
        }
        std::string prefix = function.substr(0, function.size() - 1);
        for (auto it = imports.lower_bound(prefix); it != imports.end() && it->rfind(prefix, 0) == 0; ++it)
            found.push_back(*it);
    }
    return found;
}

}  // namespace checker
