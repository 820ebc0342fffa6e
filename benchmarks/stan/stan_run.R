# The Stan (rstan 2.21) side of popkin's NUTS benchmark. Driven by benchmarks/nuts/run.py.
#
#   Rscript stan_run.R compile program.stan model.rds out.json
#   Rscript stan_run.R sample  model.rds data.csv spec.json draws.bin out.json \
#                              chains warmup draws seed adapt_delta max_treedepth cores [init.json]
#   Rscript stan_run.R logprob model.rds data.csv spec.json points.json out.json
#
# data.csv is the very file popkin's side reads (NONMEM layout: ID, TIME, EVID, AMT, CMT,
# DV, MDV and covariates; records of a subject contiguous and in time order); spec.json
# carries the population model (priors, IIV, covariate effects, residual error) written
# by benchmarks/nuts/spec.py from popkin's model definition.
# Compilation uses benchmarks/stan/Makevars (-O3 -march=native, rstan's recommended
# flags) unless R_MAKEVARS_USER is set otherwise; Boost comes from the BH package or, when
# Debian's r-cran-bh has no include/ folder, from POPKIN_BOOST_LIB (a folder holding a
# `boost` link to /usr/include/boost, made by the Python driver).
suppressPackageStartupMessages({
  library(rstan)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
mode <- args[1]
now <- function() proc.time()[["elapsed"]]

write_json_file <- function(x, path) writeLines(toJSON(x, auto_unbox = TRUE, digits = NA, null = "null"), path)

# One point as rstan's parameter list, from the JSON that spec.to_stan_values writes.
as_mat <- function(x, nr, nc) if (nr * nc == 0) matrix(0, nr, nc) else matrix(unlist(x), nr, nc, byrow = TRUE)
stan_pars <- function(pt, data) {
  list(theta = as.array(unlist(pt$theta)), omega = as.array(as.numeric(unlist(pt$omega))),
       L_iiv = as_mat(pt$L_iiv, length(pt$L_iiv), length(pt$L_iiv)),
       z_iiv = as_mat(pt$z_iiv, data$N * (1 - data$centred), data$P),
       phi_iiv = as_mat(pt$phi_iiv, data$N * data$centred, data$P),
       sigma_add = as.array(as.numeric(unlist(pt$sigma_add))),
       sigma_prop = as.array(as.numeric(unlist(pt$sigma_prop))))
}

set_boost <- function() {
  bh <- system.file("include", package = "BH")
  if (!nzchar(bh) || !dir.exists(file.path(bh, "boost"))) {
    alt <- Sys.getenv("POPKIN_BOOST_LIB")
    if (!nzchar(alt) || !dir.exists(file.path(alt, "boost")))
      stop("Boost headers not found: install BH, or set POPKIN_BOOST_LIB to a folder containing boost/")
    rstan_options(boost_lib = alt)
  }
}

stan_data <- function(csv, spec) {
  d <- read.csv(csv)
  names(d) <- toupper(names(d))
  for (col in c("ID", "TIME", "EVID", "AMT", "CMT", "DV", "MDV"))
    if (!col %in% names(d)) stop("data file lacks column ", col)
  if ("BLQ" %in% names(d) && any(d$BLQ > 0, na.rm = TRUE)) stop("BLQ records are not in the Stan programs")
  ids <- unique(d$ID)
  run <- rle(as.character(d$ID))
  if (length(run$values) != length(ids)) stop("records of each subject must be contiguous")
  stop_i <- cumsum(run$lengths)
  start_i <- stop_i - run$lengths + 1
  amt <- ifelse(is.na(d$AMT), 0, d$AMT)
  evid <- as.integer(d$EVID)
  obs <- which(evid == 0 & d$MDV == 0 & !is.na(d$DV))
  K <- length(spec$thetas)
  log_cov <- matrix(0, length(ids), K)
  for (e in spec$effects) {
    col <- toupper(e$covariate)
    base <- vapply(seq_along(ids), function(i) {
      v <- d[[col]][start_i[i]:stop_i[i]]
      v[!is.na(v)][1]
    }, 0.0)
    log_cov[, e$theta] <- log_cov[, e$theta] + e$exponent * log(base / e$reference)
  }
  P <- length(spec$iiv_theta)
  list(N = length(ids), R = nrow(d), start = as.array(start_i), stop = as.array(stop_i),
       time = as.numeric(d$TIME), amt = as.numeric(amt), cmt = as.array(as.integer(d$CMT)),
       evid = as.array(evid), n_obs = length(obs), obs_rec = as.array(obs), y = as.numeric(d$DV[obs]),
       K = K, tv_loc = as.array(as.numeric(spec$tv_loc)), tv_scale = as.array(as.numeric(spec$tv_scale)),
       log_cov = log_cov, n_struct = length(spec$idx), idx = as.array(as.integer(spec$idx)),
       P = P, iiv_theta = as.array(as.integer(spec$iiv_theta)),
       omega_scale = as.array(as.numeric(spec$omega_scale)),
       correlated = as.integer(spec$correlated), lkj_eta = spec$lkj_eta,
       centred = as.integer(if (is.null(spec$centred)) 0 else spec$centred),
       has_add = as.integer(spec$has_add), add_scale = spec$add_scale,
       has_prop = as.integer(spec$has_prop), prop_scale = spec$prop_scale)
}

if (mode == "compile") {
  set_boost()
  t0 <- now()
  m <- stan_model(file = args[2], model_name = sub("\\.stan$", "", basename(args[2])), save_dso = TRUE)
  secs <- now() - t0
  saveRDS(m, args[3])
  write_json_file(list(compile_s = secs, program = args[2]), args[4])
} else if (mode == "sample") {
  m <- readRDS(args[2])
  spec <- fromJSON(args[4], simplifyVector = FALSE)
  spec$idx <- unlist(spec$idx); spec$iiv_theta <- unlist(spec$iiv_theta)
  spec$tv_loc <- unlist(spec$tv_loc); spec$tv_scale <- unlist(spec$tv_scale)
  spec$omega_scale <- unlist(spec$omega_scale); spec$thetas <- unlist(spec$thetas)
  data <- stan_data(args[3], spec)
  n <- as.integer(args[7:9]); seed <- as.integer(args[10])
  adapt_delta <- as.numeric(args[11]); max_td <- as.integer(args[12]); cores <- as.integer(args[13])
  init <- "random"
  if (length(args) >= 14) {               # every chain starts at the given point
    init <- rep(list(stan_pars(fromJSON(args[14], simplifyVector = FALSE), data)), n[1])
  }
  t0 <- now()
  fit <- sampling(m, data = data, chains = n[1], warmup = n[2], iter = n[2] + n[3], seed = seed,
                  cores = cores, refresh = 0, init = init,
                  control = list(adapt_delta = adapt_delta, max_treedepth = max_td))
  wall <- now() - t0
  arr <- as.array(fit)                       # iterations x chains x parameters
  keep <- dimnames(arr)[[3]] != "lp__"
  arr <- arr[, , keep, drop = FALSE]
  con <- file(args[5], "wb"); writeBin(as.vector(arr), con, size = 8); close(con)
  sp <- get_sampler_params(fit, inc_warmup = FALSE)
  sp_all <- get_sampler_params(fit, inc_warmup = TRUE)
  el <- get_elapsed_time(fit)
  write_json_file(list(
    sampling_wall_s = wall, elapsed_warmup_s = as.numeric(el[, "warmup"]),
    elapsed_sample_s = as.numeric(el[, "sample"]),
    dims = dim(arr), names = dimnames(arr)[[3]],
    divergent = sum(sapply(sp, function(s) sum(s[, "divergent__"]))),
    treedepth_max_hits = sum(sapply(sp, function(s) sum(s[, "treedepth__"] >= max_td))),
    leapfrog_total = sum(sapply(sp_all, function(s) sum(s[, "n_leapfrog__"]))),
    leapfrog_sampling = sum(sapply(sp, function(s) sum(s[, "n_leapfrog__"]))),
    step_size = sapply(sp, function(s) s[1, "stepsize__"]),
    n_obs = data$n_obs, n_subjects = data$N), args[6])
} else if (mode == "logprob") {
  m <- readRDS(args[2])
  spec <- fromJSON(args[4], simplifyVector = FALSE)
  for (k in c("idx", "iiv_theta", "tv_loc", "tv_scale", "omega_scale", "thetas")) spec[[k]] <- unlist(spec[[k]])
  data <- stan_data(args[3], spec)
  fit <- sampling(m, data = data, chains = 1, iter = 1, algorithm = "Fixed_param", refresh = 0)
  points <- fromJSON(args[5], simplifyVector = FALSE)
  reps <- 200L
  res <- lapply(seq_along(points), function(k) {
    pars <- stan_pars(points[[k]], data)
    u <- unconstrain_pars(fit, pars)
    grad_s <- NULL
    if (k == 1) {
      g <- grad_log_prob(fit, u)
      t0 <- now()
      for (r in seq_len(reps)) g <- grad_log_prob(fit, u)
      grad_s <- (now() - t0) / reps
    }
    list(with_jacobian = log_prob(fit, u, adjust_transform = TRUE), grad_eval_s = grad_s,
         without_jacobian = log_prob(fit, u, adjust_transform = FALSE),
         n_unconstrained = length(u))
  })
  write_json_file(list(points = res, n_subjects = data$N, n_obs = data$n_obs), args[6])
} else {
  stop("mode must be compile, sample or logprob")
}
