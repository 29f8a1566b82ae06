// GNU readline (Debian: libreadline-dev), for the server console's and the
// client's terminal mode.
#if !__has_include(<readline/readline.h>)
#error "GNU readline's headers are missing: install them with 'apt-get install libreadline-dev' (.ci/run does)."
#else
#include <stdio.h>
#include <readline/readline.h>
#include <readline/history.h>

/* The server console's terminal thread, the only thread that uses readline,
   reaches readline's settings and state (C globals, which Swift 6 code may
   not touch) through these. */

static inline void chat_console_rl_setup(rl_completion_func_t *completer) {
  rl_readline_name = "chat-server";   /* for $if in ~/.inputrc */
  rl_catch_signals = 0;               /* SIGINT and SIGTERM belong to the server's graceful shutdown */
  rl_change_environment = 0;          /* leave LINES and COLUMNS alone */
  rl_attempted_completion_function = completer;
  rl_completer_word_break_characters = " \t";
}

/* Completion offers only what the completer found, never file names. */
static inline void chat_console_rl_completion_over(void) { rl_attempted_completion_over = 1; }

/* Erases the prompt and the typed line, so output can take their place. */
static inline void chat_console_rl_clear_line(void) {
  rl_clear_visible_line();
  fflush(rl_outstream);
}

/* Draws the prompt, the typed line and the cursor again below that output. */
static inline void chat_console_rl_redraw(void) {
  rl_on_new_line();
  rl_redisplay();
}

#endif
