// libnghttp2 (Debian: libnghttp2-dev), the HTTP/2 engine of NGHTTP2Transport.
#include <nghttp2/nghttp2.h>
