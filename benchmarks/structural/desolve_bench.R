# deSolve side of the structural-model benchmark (see benchmarks/structural/README.md).
# Same problem as popkin's side: per-subject parameters from subjects.csv (written by
# the Python driver), 100 mg oral BID x 56 doses into the depot, 100 observation
# times; lsoda with a compiled C right-hand side, rtol 1e-8, atol 1e-10 (documented
# in the README: tolerances chosen so deSolve matches the closed form to ~1e-6).
# Usage: Rscript desolve_bench.R subjects.csv lin|mm out.json [check.csv]
suppressMessages(library(deSolve))
args <- commandArgs(trailingOnly = TRUE)
subjects <- read.csv(args[1]); model <- args[2]; out <- args[3]
here <- dirname(normalizePath(sub("--file=", "", grep("--file=", commandArgs(), value = TRUE))))
lib <- file.path(tempdir(), paste0("desolve_rhs", .Platform$dynlib.ext))
src <- file.path(here, "desolve_rhs.c")
status <- system2("R", c("CMD", "SHLIB", "-o", lib, src), stdout = FALSE, stderr = FALSE)
if (status != 0) stop("R CMD SHLIB failed")
dyn.load(lib)

dose <- 100; ii <- 12; n_dose <- 56
dose_times <- (0:(n_dose - 1)) * ii
obs_times <- seq(0, n_dose * ii, length.out = 100)
times <- sort(unique(c(obs_times, dose_times)))
events <- data.frame(var = "A1", time = dose_times, value = dose, method = "add")
func <- if (model == "lin") "one_cpt_lin" else "one_cpt_mm"

solve_one <- function(p) {
  sol <- ode(y = c(A1 = 0, A2 = 0), times = times, func = func, parms = p,
             dllname = "desolve_rhs", initfunc = "initmod", nout = 0,
             events = list(data = events), method = "lsoda", rtol = 1e-8, atol = 1e-10)
  sol[match(obs_times, sol[, "time"]), "A2"] / p[["V"]]
}
n <- nrow(subjects)
invisible(gc(reset = TRUE))
t0 <- proc.time()[["elapsed"]]
conc <- matrix(NA_real_, n, length(obs_times))
for (i in seq_len(n)) {
  p <- c(KA = subjects$KA[i], CL = subjects$CL[i], V = subjects$V[i],
         VM = subjects$VM[i], KM = subjects$KM[i])
  conc[i, ] <- solve_one(p)
}
elapsed <- proc.time()[["elapsed"]] - t0
mem <- gc()
if (length(args) >= 4) write.csv(conc[seq_len(min(n, 5)), , drop = FALSE], args[4], row.names = FALSE)
cat(sprintf('{"engine": "deSolve %s (lsoda, compiled C RHS)", "r_version": "%s", "model": "%s", "n_subjects": %d, "n_obs": %d, "seconds": %.6f, "subject_timepoints_per_s": %.3f, "r_max_used_mb": %.1f}\n',
            as.character(packageVersion("deSolve")), R.version.string, model, n, length(obs_times),
            elapsed, n * length(obs_times) / elapsed, sum(mem[, ncol(mem)])), file = out)
