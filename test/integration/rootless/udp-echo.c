/* A UDP server for the rootless tests (busybox has none): answers each datagram on PORT
 * with "pong:" and the datagram. Built static by the test, bind-mounted into the container. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
  char buf[512], out[600];
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (argc != 2 || fd < 0)
    return 2;
  addr.sin_port = htons((unsigned short)atoi(argv[1]));
  if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
    perror("bind");
    return 1;
  }
  for (;;) {
    struct sockaddr_in from;
    socklen_t len = sizeof(from);
    ssize_t n = recvfrom(fd, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&from, &len);
    if (n < 0)
      continue;
    buf[n] = '\0';
    int m = snprintf(out, sizeof(out), "pong:%s", buf);
    sendto(fd, out, (size_t)m, 0, (struct sockaddr *)&from, len);
  }
}
