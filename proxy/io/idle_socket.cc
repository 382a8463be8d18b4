#include "proxy/io/idle_socket.h"

#include <sys/socket.h>

#include <cerrno>

namespace kw::proxy {

bool socketQuiet(evutil_socket_t fd) {
  if (fd < 0) return false;
  char byte;
  const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace kw::proxy
