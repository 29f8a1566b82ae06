/// The benchmark scenarios of issue 5 (`fanout`, `direct`, `sessions`, one
/// file each). Each connects its sessions, runs, closes them and reports
/// what it measured.
public enum ChatBench {}
