// Debian's libopenblas-dev installs its cblas.h behind this alternatives name, so it is found on
// every architecture even when another BLAS also provides <cblas.h>.
#include <cblas-openblas.h>
