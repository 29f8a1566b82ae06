// zlib (Debian: zlib1g-dev), for the CRC-32 that guards each record of the message log.
#include <zlib.h>
