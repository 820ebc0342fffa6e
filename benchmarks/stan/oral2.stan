// Two compartments, first-order absorption, linear elimination, multiple oral/IV bolus
// doses: the Stan side of popkin's benchmark (popkin structure "2cmt-oral").
// Stan 2.21 syntax (rstan 2.21). The population part is shared with oral2.stan word for
// word (keep them identical): IIV non-centred or centred (data flag `centred`, as
// popkin's NUTSOptions(parameterization=...)), popkin's default priors, popkin's
// residual model. Data and spec come from benchmarks/stan/stan_run.R (the CSV both sides
// read, plus the spec benchmarks/nuts/spec.py writes from the popkin PopulationModel).
//
// Parameters carry popkin's site names:
//   theta   typical values in model.thetas order (popkin: one scalar site per name)
//   omega   IIV SDs, log scale                  (popkin: omega)
//   L_iiv   IIV correlation Cholesky factor     (popkin: L_iiv1; 1 x 1 = no parameter
//           when the IIV is diagonal)
//   z_iiv   N x P standard normal deviates      (popkin: z_iiv; eta_i = diag(omega) L z_i);
//           0 x P when centred
//   phi_iiv N x P individual log parameters when centred (0 x P otherwise): phi_i =
//           log TV_i + eta_i, phi_i ~ MVN(log TV_i, diag(omega) L L' diag(omega)) (popkin's
//           centred sampler coordinates, popkin.infer.centring)
//   sigma_add, sigma_prop  residual SDs (arrays of length 0 or 1)
// Structural model (state-transition form, as popkin): amounts are propagated exactly
// from record to record with the bi-exponential solution (alpha, beta);
// CL, V1, Q, V2, KA = exp(logp[, idx[1..5]]). CMT 1 depot, 2 central, 3 peripheral.
functions {
  vector predict_records(int[] start, int[] stop, vector time, vector amt, int[] cmt,
                         int[] evid, matrix logp, int[] idx) {
    vector[rows(time)] f = rep_vector(0, rows(time));
    for (i in 1:rows(logp)) {
      real cl = exp(logp[i, idx[1]]);
      real v1 = exp(logp[i, idx[2]]);
      real q = exp(logp[i, idx[3]]);
      real v2 = exp(logp[i, idx[4]]);
      real ka = exp(logp[i, idx[5]]);
      real k10 = cl / v1;
      real k12 = q / v1;
      real k21 = q / v2;
      real s = k10 + k12 + k21;
      real root = sqrt(s * s - 4 * k10 * k21);
      real alpha = (s + root) / 2;
      real beta = (s - root) / 2;
      real a1 = 0;
      real a2 = 0;
      real a3 = 0;
      real t = time[start[i]];
      for (r in start[i]:stop[i]) {
        real dt = time[r] - t;
        if (dt > 0) {
          real ea = exp(-alpha * dt);
          real eb = exp(-beta * dt);
          real eka = exp(-ka * dt);
          real ab = alpha - beta;
          real da = (ea - eka) / (ka - alpha);
          real db = (eb - eka) / (ka - beta);
          real n2 = (a2 * ((alpha - k21) * ea - (beta - k21) * eb) + a3 * k21 * (eb - ea)
                     + ka * a1 * ((alpha - k21) * da - (beta - k21) * db)) / ab;
          real n3 = (a3 * ((alpha - k10 - k12) * ea - (beta - k10 - k12) * eb) + a2 * k12 * (eb - ea)
                     + ka * a1 * k12 * (db - da)) / ab;
          a1 = a1 * eka;
          a2 = n2;
          a3 = n3;
          t = time[r];
        }
        if (evid[r] == 1) {
          if (cmt[r] == 1) a1 += amt[r];
          else if (cmt[r] == 2) a2 += amt[r];
          else a3 += amt[r];
        }
        f[r] = a2 / v1;
      }
    }
    return f;
  }
}
data {
  int<lower=1> N;
  int<lower=1> R;
  int<lower=1> start[N];
  int<lower=1> stop[N];
  vector[R] time;
  vector[R] amt;
  int cmt[R];
  int evid[R];
  int<lower=0> n_obs;
  int<lower=1> obs_rec[n_obs];
  vector[n_obs] y;
  int<lower=1> K;
  vector[K] tv_loc;
  vector<lower=0>[K] tv_scale;
  matrix[N, K] log_cov;
  int<lower=1> n_struct;
  int<lower=1> idx[n_struct];
  int<lower=0> P;
  int<lower=1> iiv_theta[P];
  vector<lower=0>[P] omega_scale;
  int<lower=0, upper=1> correlated;
  int<lower=0, upper=1> centred;
  real<lower=0> lkj_eta;
  int<lower=0, upper=1> has_add;
  real<lower=0> add_scale;
  int<lower=0, upper=1> has_prop;
  real<lower=0> prop_scale;
}
parameters {
  vector<lower=0>[K] theta;
  vector<lower=0>[P] omega;
  cholesky_factor_corr[correlated ? P : 1] L_iiv;
  matrix[centred ? 0 : N, P] z_iiv;
  matrix[centred ? N : 0, P] phi_iiv;
  real<lower=0> sigma_add[has_add];
  real<lower=0> sigma_prop[has_prop];
}
model {
  matrix[N, K] logp = rep_matrix(log(theta)', N) + log_cov;
  if (P > 0 && centred) {
    matrix[N, P] mu;
    for (p in 1:P) mu[1:N, p] = logp[1:N, iiv_theta[p]];
    if (correlated) {
      matrix[P, P] L_cov = diag_pre_multiply(omega, L_iiv);
      for (i in 1:N) phi_iiv[i]' ~ multi_normal_cholesky(mu[i]', L_cov);
    } else {
      for (p in 1:P) phi_iiv[1:N, p] ~ normal(mu[1:N, p], omega[p]);
    }
    for (p in 1:P) logp[1:N, iiv_theta[p]] = phi_iiv[1:N, p];
  } else if (P > 0) {
    matrix[N, P] eta;
    if (correlated) eta = z_iiv * diag_pre_multiply(omega, L_iiv)';
    else eta = z_iiv * diag_matrix(omega);
    for (p in 1:P) logp[1:N, iiv_theta[p]] = logp[1:N, iiv_theta[p]] + eta[1:N, p];
  }
  theta ~ lognormal(tv_loc, tv_scale);
  omega ~ normal(0, omega_scale);
  if (correlated) L_iiv ~ lkj_corr_cholesky(lkj_eta);
  to_vector(z_iiv) ~ std_normal();
  if (has_add) sigma_add ~ normal(0, add_scale);
  if (has_prop) sigma_prop ~ normal(0, prop_scale);
  {
    vector[n_obs] f = predict_records(start, stop, time, amt, cmt, evid, logp, idx)[obs_rec];
    real var_add = has_add ? square(sigma_add[1]) : 0.0;
    real sd_prop = has_prop ? sigma_prop[1] : 0.0;
    y ~ normal(f, sqrt(var_add + square(sd_prop * f) + 1e-30));
  }
}
