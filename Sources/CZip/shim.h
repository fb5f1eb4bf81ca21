// libzip (Debian libzip-dev), used as it is.
#include <zip.h>
