/* helper_main.c - a second program linking mpx, for set_executable tests:
 * started by itself it prints its name and exits. */
#include <mpx.h>
#include <stdio.h>

int main(void)
{
    printf("mpx_test_helper %s\n", mpx_version());
    return 0;
}
