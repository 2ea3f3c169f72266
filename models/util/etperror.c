#include "util/etperror.h"

G_DEFINE_QUARK (etp-error-quark, etp_error)
