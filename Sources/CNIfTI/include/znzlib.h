// nifti2_io.h includes <znzlib.h>, which lives in /usr/include/nifti. A target cannot add a system
// directory to its dependants' include path, so this header forwards to the real one.
#include <nifti/znzlib.h>
