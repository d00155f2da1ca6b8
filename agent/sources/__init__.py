"""Where lines come from: files (`file`, `tail`, `fileio`), standard input (`stdin`), and the readline limit."""
