/*
** lvm's standalone Lua front-end: the `lua` command of the interpreters lvm builds from the
** PUC-Rio sources of Lua 5.1 to 5.5, which ship no front-end of their own in lvm's copy.
** It behaves like the reference `lua` command of each version (options, the `arg` table,
** LUA_INIT, messages with tracebacks, exit codes), without readline: the REPL reads plain lines.
*/

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lua.h"
#include "lauxlib.h"
#include "lualib.h"

#if LUA_VERSION_NUM < 502
#define LUA_OK 0
#endif

#if LUA_VERSION_NUM == 501
#define EOFMARK "'<eof>'"
#else
#define EOFMARK "<eof>"
#endif
#define MARKLEN (sizeof(EOFMARK) / sizeof(char) - 1)

#define MAXINPUT 512

/* What collectargs found on the command line. */
#define HAS_ERROR 1
#define HAS_I 2
#define HAS_V 4
#define HAS_E 8
#define HAS_BIG_E 16

static const char *progname = "lua";
static lua_State *globalL = NULL;

/* Called by the hook set on Ctrl-C: stops the running code with an error. */
static void lstop(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

/* A signal handler may only set a hook: the hook raises the error inside Lua. */
static void laction(int sig) {
  signal(sig, SIG_DFL);
  lua_sethook(globalL, lstop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static void print_usage(const char *badoption) {
#if LUA_VERSION_NUM == 501
  (void)badoption; /* 5.1 prints the usage only */
  fprintf(stderr,
          "usage: %s [options] [script [args]].\n"
          "Available options are:\n"
          "  -e stat  execute string 'stat'\n"
          "  -l name  require library 'name'\n"
          "  -i       enter interactive mode after executing 'script'\n"
          "  -v       show version information\n"
          "  --       stop handling options\n"
          "  -        execute stdin and stop handling options\n",
          progname);
#else
  fprintf(stderr, "%s: ", progname);
  if (badoption[1] == 'e' || badoption[1] == 'l')
    fprintf(stderr, "'%s' needs argument\n", badoption);
  else
    fprintf(stderr, "unrecognized option '%s'\n", badoption);
  fprintf(stderr,
          "usage: %s [options] [script [args]]\n"
          "Available options are:\n"
          "  -e stat   execute string 'stat'\n"
          "  -i        enter interactive mode after executing 'script'\n"
          "  -l mod    require library 'mod' into global 'mod'\n"
#if LUA_VERSION_NUM >= 504
          "  -l g=mod  require library 'mod' into global 'g'\n"
#endif
          "  -v        show version information\n"
          "  -E        ignore environment variables\n"
#if LUA_VERSION_NUM >= 504
          "  -W        turn warnings on\n"
#endif
          "  --        stop handling options\n"
          "  -         stop handling options and execute stdin\n",
          progname);
#endif
  fflush(stderr);
}

static void l_message(const char *pname, const char *msg) {
  if (pname) fprintf(stderr, "%s: ", pname);
  fprintf(stderr, "%s\n", msg);
  fflush(stderr);
}

/* Prints the error message on top of the stack, if any, and pops it. */
static int report(lua_State *L, int status) {
  if (status != LUA_OK && !lua_isnil(L, -1)) {
    const char *msg = lua_tostring(L, -1);
    if (msg == NULL) msg = "(error object is not a string)";
    l_message(progname, msg);
    lua_pop(L, 1);
  }
#if LUA_VERSION_NUM == 501
  else if (status != LUA_OK) lua_pop(L, 1);
#endif
  return status;
}

/* The message handler of every protected call: adds the traceback, as each version does. */
static int msghandler(lua_State *L) {
#if LUA_VERSION_NUM == 501
  if (!lua_isstring(L, 1)) return 1; /* keep the error object intact */
  lua_getfield(L, LUA_GLOBALSINDEX, "debug");
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    return 1;
  }
  lua_getfield(L, -1, "traceback");
  if (!lua_isfunction(L, -1)) {
    lua_pop(L, 2);
    return 1;
  }
  lua_pushvalue(L, 1);
  lua_pushinteger(L, 2);
  lua_call(L, 2, 1);
  return 1;
#elif LUA_VERSION_NUM == 502
  const char *msg = lua_tostring(L, 1);
  if (msg)
    luaL_traceback(L, L, msg, 1);
  else if (!lua_isnoneornil(L, 1)) {
    if (!luaL_callmeta(L, 1, "__tostring")) lua_pushliteral(L, "(no error message)");
  }
  return 1;
#else
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
#endif
}

static int docall(lua_State *L, int narg, int nres) {
  int status;
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  globalL = L;
  signal(SIGINT, laction);
  status = lua_pcall(L, narg, nres, base);
  signal(SIGINT, SIG_DFL);
  lua_remove(L, base);
  return status;
}

static void print_version(void) {
#if LUA_VERSION_NUM == 501
  l_message(NULL, LUA_RELEASE "  " LUA_COPYRIGHT);
#else
  fputs(LUA_COPYRIGHT "\n", stdout);
  fflush(stdout);
#endif
}

/* The global `arg`: the script at index 0, its arguments after it, the interpreter's before. */
static void createargtable(lua_State *L, char **argv, int argc, int script) {
  int i;
  lua_createtable(L, argc - (script + 1) > 0 ? argc - (script + 1) : 0, script + 1);
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static int dochunk(lua_State *L, int status) {
  if (status == LUA_OK) status = docall(L, 0, 0);
  return report(L, status);
}

static int dofile(lua_State *L, const char *name) {
  return dochunk(L, luaL_loadfile(L, name));
}

static int dostring(lua_State *L, const char *s, const char *name) {
  return dochunk(L, luaL_loadbuffer(L, s, strlen(s), name));
}

/* `-l name`: require the module and, from 5.2 on, store it in a global (`-l g=mod` in 5.4+). */
static int dolibrary(lua_State *L, char *globname) {
  int status;
  char *modname = globname;
#if LUA_VERSION_NUM >= 504
  char *suffix = NULL;
  char *eq = strchr(globname, '=');
  if (eq == NULL)
    suffix = strchr(globname, *LUA_IGMARK);
  else {
    *eq = '\0';
    modname = eq + 1;
  }
#endif
  lua_getglobal(L, "require");
  lua_pushstring(L, modname);
  status = docall(L, 1, 1);
  if (status == LUA_OK) {
#if LUA_VERSION_NUM >= 504
    if (suffix != NULL) *suffix = '\0';
#endif
#if LUA_VERSION_NUM >= 502
    lua_setglobal(L, globname);
#else
    lua_pop(L, 1);
#endif
  }
  return report(L, status);
}

/* Pushes the script's arguments (the positive indices of `arg`) and returns how many. */
static int pushargs(lua_State *L, char **argv, int argc, int script) {
  int i, n;
#if LUA_VERSION_NUM == 501
  n = argc - script - 1;
  luaL_checkstack(L, n + 3, "too many arguments to script");
  for (i = script + 1; i < argc; i++) lua_pushstring(L, argv[i]);
#else
  (void)argv;
  (void)argc;
  (void)script;
  lua_getglobal(L, "arg");
  if (!lua_istable(L, -1)) luaL_error(L, "'arg' is not a table");
  n = (int)lua_rawlen(L, -1);
  luaL_checkstack(L, n + 3, "too many arguments to script");
  for (i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
  lua_remove(L, -i);
#endif
  return n;
}

static int handle_script(lua_State *L, char **argv, int argc, int script) {
  int status;
  const char *fname = argv[script];
  if (strcmp(fname, "-") == 0 && strcmp(argv[script - 1], "--") != 0) fname = NULL; /* stdin */
#if LUA_VERSION_NUM == 501
  createargtable(L, argv, argc, script); /* 5.1 makes `arg` only for a script */
#endif
  status = luaL_loadfile(L, fname);
  if (status == LUA_OK) {
    int n = pushargs(L, argv, argc, script);
    status = docall(L, n, LUA_MULTRET);
  }
  return report(L, status);
}

/* Reads the options; `*first` becomes the index of the script, or 0 when there is none. */
static int collectargs(char **argv, int *first) {
  int args = 0;
  int i;
  for (i = 1; argv[i] != NULL; i++) {
    *first = i;
    if (argv[i][0] != '-') return args; /* not an option: the script */
    switch (argv[i][1]) {
    case '-': /* '--' */
      if (argv[i][2] != '\0') return HAS_ERROR;
      *first = argv[i + 1] != NULL ? i + 1 : 0;
      return args;
    case '\0': /* '-': the script is stdin */
      return args;
#if LUA_VERSION_NUM >= 502
    case 'E':
      if (argv[i][2] != '\0') return HAS_ERROR;
      args |= HAS_BIG_E;
      break;
#endif
#if LUA_VERSION_NUM >= 504
    case 'W':
      if (argv[i][2] != '\0') return HAS_ERROR;
      break;
#endif
    case 'i':
      args |= HAS_I; /* -i implies -v */
      /* FALLTHROUGH */
    case 'v':
      if (argv[i][2] != '\0') return HAS_ERROR;
      args |= HAS_V;
      break;
    case 'e':
      args |= HAS_E;
      /* FALLTHROUGH */
    case 'l': /* both need an argument */
      if (argv[i][2] == '\0') {
        i++;
        if (argv[i] == NULL || argv[i][0] == '-') return HAS_ERROR;
      }
      break;
    default:
      return HAS_ERROR;
    }
  }
  *first = 0;
  return args;
}

/* Runs the -e, -l (and -W) options, in order, up to the script. */
static int runargs(lua_State *L, char **argv, int n) {
  int i;
  for (i = 1; i < n; i++) {
    int option = argv[i][1];
    switch (option) {
    case 'e':
    case 'l': {
      int status;
      char *extra = argv[i] + 2;
      if (*extra == '\0') extra = argv[++i];
      status = (option == 'e') ? dostring(L, extra, "=(command line)") : dolibrary(L, extra);
      if (status != LUA_OK) return 0;
      break;
    }
#if LUA_VERSION_NUM >= 504
    case 'W':
      lua_warning(L, "@on", 0);
      break;
#endif
    }
  }
  return 1;
}

/* LUA_INIT_5_x (from 5.2 on), else LUA_INIT: code, or `@file` to run a file. */
static int handle_luainit(lua_State *L) {
  char versioned[32];
  const char *name = "=LUA_INIT";
  const char *init = NULL;
#if LUA_VERSION_NUM >= 502
  snprintf(versioned, sizeof versioned, "=LUA_INIT_%d_%d", LUA_VERSION_NUM / 100,
           LUA_VERSION_NUM % 100);
  init = getenv(versioned + 1);
  if (init != NULL) name = versioned;
#else
  (void)versioned;
#endif
  if (init == NULL) init = getenv(name + 1);
  if (init == NULL) return LUA_OK;
  if (init[0] == '@') return dofile(L, init + 1);
  return dostring(L, init, name);
}

/* The REPL: plain lines from stdin, `=expr` (and from 5.3 on a bare expression) prints. */

static int incomplete(lua_State *L, int status) {
  if (status == LUA_ERRSYNTAX) {
    size_t lmsg;
    const char *msg = lua_tolstring(L, -1, &lmsg);
    if (lmsg >= MARKLEN && strcmp(msg + lmsg - MARKLEN, EOFMARK) == 0) {
      lua_pop(L, 1);
      return 1;
    }
  }
  return 0;
}

static int pushline(lua_State *L, int firstline) {
  char buffer[MAXINPUT];
  size_t len;
  const char *prompt;
  lua_getglobal(L, firstline ? "_PROMPT" : "_PROMPT2");
  prompt = lua_tostring(L, -1);
  if (prompt == NULL) prompt = firstline ? "> " : ">> ";
  fputs(prompt, stdout);
  fflush(stdout);
  lua_pop(L, 1);
  if (fgets(buffer, sizeof buffer, stdin) == NULL) return 0;
  len = strlen(buffer);
  if (len > 0 && buffer[len - 1] == '\n') buffer[--len] = '\0';
  if (firstline && buffer[0] == '=')
    lua_pushfstring(L, "return %s", buffer + 1);
  else
    lua_pushlstring(L, buffer, len);
  return 1;
}

#if LUA_VERSION_NUM >= 503
static int addreturn(lua_State *L) {
  const char *line = lua_tostring(L, -1);
  const char *retline = lua_pushfstring(L, "return %s;", line);
  int status = luaL_loadbuffer(L, retline, strlen(retline), "=stdin");
  if (status == LUA_OK)
    lua_remove(L, -2); /* the modified line */
  else
    lua_pop(L, 2);
  return status;
}
#endif

static int multiline(lua_State *L) {
  for (;;) {
    size_t len;
    const char *line = lua_tolstring(L, 1, &len);
    int status = luaL_loadbuffer(L, line, len, "=stdin");
    if (!incomplete(L, status) || !pushline(L, 0)) return status;
    lua_pushliteral(L, "\n");
    lua_insert(L, -2);
    lua_concat(L, 3);
  }
}

static int loadline(lua_State *L) {
  int status;
  lua_settop(L, 0);
  if (!pushline(L, 1)) return -1;
#if LUA_VERSION_NUM >= 503
  if ((status = addreturn(L)) != LUA_OK) status = multiline(L);
#else
  status = multiline(L);
#endif
  lua_remove(L, 1);
  return status;
}

static void l_print(lua_State *L) {
  int n = lua_gettop(L);
  if (n > 0) {
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    lua_getglobal(L, "print");
    lua_insert(L, 1);
    if (lua_pcall(L, n, 0, 0) != LUA_OK)
      l_message(progname, lua_pushfstring(L, "error calling 'print' (%s)", lua_tostring(L, -1)));
  }
}

static void doREPL(lua_State *L) {
  int status;
  const char *oldprogname = progname;
  progname = NULL;
  while ((status = loadline(L)) != -1) {
    if (status == LUA_OK) status = docall(L, 0, LUA_MULTRET);
    if (status == LUA_OK)
      l_print(L);
    else
      report(L, status);
  }
  lua_settop(L, 0);
  fputs("\n", stdout);
  fflush(stdout);
  progname = oldprogname;
}

static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = (char **)lua_touserdata(L, 2);
  int script = 0;
  int args = collectargs(argv, &script);
  int optlim = (script > 0) ? script : argc;
  if (args == HAS_ERROR) {
    print_usage(argv[script]);
    return 0;
  }
  if (args & HAS_V) print_version();
#if LUA_VERSION_NUM >= 502
  if (args & HAS_BIG_E) { /* the package library then ignores LUA_PATH and LUA_CPATH */
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
#endif
  luaL_openlibs(L);
#if LUA_VERSION_NUM >= 502
  createargtable(L, argv, argc, script);
#endif
  lua_gc(L, LUA_GCRESTART, 0);
#if LUA_VERSION_NUM >= 504
  lua_gc(L, LUA_GCGEN, 0, 0); /* as the reference front-end does */
#endif
  if (!(args & HAS_BIG_E) && handle_luainit(L) != LUA_OK) return 0;
  if (!runargs(L, argv, optlim)) return 0;
  if (script > 0 && handle_script(L, argv, argc, script) != LUA_OK) return 0;
  if (args & HAS_I)
    doREPL(L);
  else if (script == 0 && !(args & (HAS_E | HAS_V))) {
    if (isatty(0)) {
      print_version();
      doREPL(L);
    } else
      dofile(L, NULL);
  }
  lua_pushboolean(L, 1);
  return 1;
}

int main(int argc, char **argv) {
  int status, result;
  lua_State *L;
  if (argv[0] != NULL && argv[0][0]) progname = argv[0];
  L = luaL_newstate();
  if (L == NULL) {
    l_message(progname, "cannot create state: not enough memory");
    return EXIT_FAILURE;
  }
  lua_gc(L, LUA_GCSTOP, 0);
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  status = lua_pcall(L, 2, 1, 0);
  result = lua_toboolean(L, -1);
  report(L, status);
  lua_close(L);
  return (result && status == LUA_OK) ? EXIT_SUCCESS : EXIT_FAILURE;
}
