"""`wam-eval reproduce`: one of the paper's tables under its own protocol, judged cell by cell
against the published figure (tables: what each table runs; verdict: the statistics; cells: our
k/n per cell and its verdict; estimate: how long it will take)."""
