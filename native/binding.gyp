{
  "targets": [
    {
      "target_name": "batchgram",
      "conditions": [
        ["OS=='linux'", {
          "sources": ["src/args.c", "src/sockets.c", "src/options.c", "src/poll.c", "src/pages.c",
                      "src/rings.c", "src/recv.c", "src/send.c", "src/init.c"],
          # The files share functions by name (batchgram.h); hidden, no other
          # library in the process can bind to one, nor ours to another's.
          "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11", "-fvisibility=hidden", "-pthread"],
          # poll.c's readiness thread (runtimes without libuv): before glibc
          # 2.34 pthread_create is libpthread's.
          "ldflags": ["-pthread"]
        }, {"type": "none"}]
      ]
    }
  ]
}
