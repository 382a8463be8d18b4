// Whether an idle keep-alive connection is still clean before it carries another request.
//
// HTTP/1.1 answers in order and has no request ids: bytes a server sends while no request is
// outstanding would be read as the answer to the next request written, whichever client sent
// it (attack round 23). The read handler of an idle connection closes it when such bytes arrive,
// but they can reach the socket after that handler last ran and before the connection is handed
// a request; this looks at the connection itself at that moment.
#pragma once

#include <event2/bufferevent.h>

namespace kw::proxy {

// True when the peer has sent nothing unread and has not closed the connection. Over TLS the
// records that are no data (TLS 1.3 session tickets, key updates) do not count: they are read
// and handled here (SSL_peek), and only application data or a close makes the connection
// unclean; a plain socket is looked at with MSG_PEEK. Either leaves any data where it was.
bool connectionQuiet(bufferevent* bev);

}  // namespace kw::proxy
