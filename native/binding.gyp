{
  "targets": [
    {
      "target_name": "batchgram",
      "sources": ["batchgram.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"],
      "conditions": [
        ["OS!='linux'", {"type": "none", "sources!": ["batchgram.c"]}]
      ]
    }
  ]
}
