/* Hostile servers during the handshake: nbd_connect_unix must fail with
 * the documented errno, leave the handle dead, and never hang or crash.
 * Cases and expectations: hostile_cases.c (phase PH_HANDSHAKE). */
#include <stdio.h>

#include <CUnit/Basic.h>

#include "hostile.h"

int
main (void)
{
  if (CU_initialize_registry () != CUE_SUCCESS)
    return 2;
  if (h_register_phase ("hostile-handshake", PH_HANDSHAKE) == -1) {
    fprintf (stderr, "CUnit registration failed\n");
    return 2;
  }
  return h_main ();
}
