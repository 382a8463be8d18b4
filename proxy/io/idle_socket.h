// Whether an idle keep-alive connection is still clean before it carries another request.
//
// HTTP/1.1 answers in order and has no request ids: bytes a server sends while no request is
// outstanding would be read as the answer to the next request written, whichever client sent
// it (attack round 23). The read handler of an idle connection closes it when such bytes arrive,
// but they can reach the socket after that handler last ran and before the connection is handed
// a request; this looks at the socket itself at that moment.
#pragma once

#include <event2/util.h>

namespace kw::proxy {

// True when the peer has sent nothing unread on `fd` and has not closed it (a MSG_PEEK, which
// leaves the socket as it was). Any error counts as not quiet.
bool socketQuiet(evutil_socket_t fd);

}  // namespace kw::proxy
