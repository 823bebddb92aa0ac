/* Hostile servers after the handshake: each faulty reply makes the
 * triggering call fail with the documented errno; protocol violations kill
 * the handle and complete every command in flight with an error (the
 * "(aio)" variant of each test); server-reported errors fail one command
 * and leave the handle usable.
 * Cases and expectations: hostile_cases.c (phase PH_TRANSMISSION). */
#include <stdio.h>

#include <CUnit/Basic.h>

#include "hostile.h"

int
main (void)
{
  if (CU_initialize_registry () != CUE_SUCCESS)
    return 2;
  if (h_register_phase ("hostile-transmission", PH_TRANSMISSION) == -1) {
    fprintf (stderr, "CUnit registration failed\n");
    return 2;
  }
  return h_main ();
}
