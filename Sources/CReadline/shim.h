// GNU readline (Debian: libreadline-dev), for the server console's and the
// client's terminal mode.
#include <stdio.h>
#include <readline/readline.h>
#include <readline/history.h>
