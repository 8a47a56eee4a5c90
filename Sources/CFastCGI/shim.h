#ifndef RUNJOURNAL_CFASTCGI_SHIM_H
#define RUNJOURNAL_CFASTCGI_SHIM_H
// libfcgi's thread-safe request API (fcgiapp.h, Debian libfcgi-dev 2.4.2).
#include <fcgiapp.h>
#endif
