/* Placeholder entry point; replaced by the command dispatcher. */
#include <stdio.h>
int main(void)
{
  fputs("berth-runtime: not built yet\n", stderr);
  return 1;
}
