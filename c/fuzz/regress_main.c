/* regress_main.c: runs a fuzz target's LLVMFuzzerTestOneInput over files
 * and directories given on the command line, without libFuzzer, so
 * reproducers and seeds can be replayed under ASan/UBSan in a plain test.
 * Exits non-zero if an argument cannot be read; a failed invariant or a
 * sanitizer report aborts the program. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
/* Optional: a target may check what the whole replay reached (-1 = fail). */
int fuzz_replay_summary (void) __attribute__ ((weak));

static int nr_files;

static int
run_file (const char *path)
{
  FILE *f = fopen (path, "rb");
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0, n;

  if (!f) { fprintf (stderr, "%s: %s\n", path, strerror (errno)); return -1; }
  for (;;) {
    if (len == cap) {
      cap = cap ? cap * 2 : 65536;
      buf = realloc (buf, cap);
      if (!buf) { perror ("realloc"); exit (2); }
    }
    n = fread (buf + len, 1, cap - len, f);
    if (n == 0) break;
    len += n;
  }
  fclose (f);
  LLVMFuzzerTestOneInput (buf, len);
  free (buf);
  nr_files++;
  return 0;
}

static int
run_path (const char *path)
{
  struct stat st;
  if (stat (path, &st) == -1) { fprintf (stderr, "%s: %s\n", path, strerror (errno)); return -1; }
  if (S_ISDIR (st.st_mode)) {
    struct dirent **ents;
    int n = scandir (path, &ents, NULL, alphasort), i, rc = 0;
    if (n < 0) { fprintf (stderr, "%s: %s\n", path, strerror (errno)); return -1; }
    for (i = 0; i < n; i++) {
      char sub[4096];
      if (ents[i]->d_name[0] != '.') {
        snprintf (sub, sizeof sub, "%s/%s", path, ents[i]->d_name);
        if (run_path (sub) == -1) rc = -1;
      }
      free (ents[i]);
    }
    free (ents);
    return rc;
  }
  return run_file (path);
}

int
main (int argc, char **argv)
{
  int i, rc = 0;
  alarm (600);
  for (i = 1; i < argc; i++)
    if (run_path (argv[i]) == -1) rc = 1;
  printf ("%s: %d inputs replayed%s\n", argv[0], nr_files, rc ? " (some paths unreadable)" : "");
  if (fuzz_replay_summary && fuzz_replay_summary () == -1) {
    fprintf (stderr, "%s: the replay did not reach what the target expects\n", argv[0]);
    rc = 1;
  }
  return rc;
}
