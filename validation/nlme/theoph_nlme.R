# Reference fits of the theophylline data with R's nlme (Pinheiro & Bates 2000,
# Mixed-Effects Models in S and S-PLUS, sections 6.4 and 8.2), run here so that
# popkin's NUTS and Laplace fits can be compared with numbers R produced.
#
# Model: one compartment, first-order absorption and elimination (SSfol):
#   C(t) = Dose * exp(lKe + lKa - lCl) * (exp(-ke t) - exp(-ka t)) / (ka - ke)
# with ke = exp(lKe), ka = exp(lKa), Cl = exp(lCl), so V = Cl / ke.
# Fits:
#   (nlme fits by maximum likelihood unless method = "REML" is given.)
#   fm1: random effects on lKe, lKa, lCl with a general (pdSymm) covariance
#        (the book's fm1Theo.nlme), Dose in mg/kg as in the book (Cl in L/h/kg).
#   fm2: random effects on lKa and lCl only, diagonal (the book's fm2Theo.nlme).
#   fm3: all three random, diagonal; Dose as given (mg/kg); maximum likelihood;
#        additive error. This is the model popkin's Laplace fit is compared with.
#   fm3_total: as fm3 but with the total dose in mg (Dose * Wt), so Cl in L/h.
# Usage: Rscript validation/nlme/theoph_nlme.R > validation/nlme/theoph_nlme.json
suppressMessages(library(nlme))
data(Theoph)
Th <- Theoph
Th$DoseTot <- Th$Dose * Th$Wt
start <- c(lKe = -2.5, lKa = 0.5, lCl = -3.0)

fm1 <- nlme(conc ~ SSfol(Dose, Time, lKe, lKa, lCl), data = Th,
            fixed = lKe + lKa + lCl ~ 1, random = pdSymm(lKe + lKa + lCl ~ 1),
            groups = ~ Subject, start = start)
fm2 <- update(fm1, random = pdDiag(lKa + lCl ~ 1))
fm3 <- nlme(conc ~ SSfol(Dose, Time, lKe, lKa, lCl), data = Th,
            fixed = lKe + lKa + lCl ~ 1, random = pdDiag(lKe + lKa + lCl ~ 1),
            groups = ~ Subject, start = start, method = "ML")
start_tot <- c(lKe = -2.5, lKa = 0.5, lCl = log(exp(-3.0) * 70))
fm3_total <- nlme(conc ~ SSfol(DoseTot, Time, lKe, lKa, lCl), data = Th,
                  fixed = lKe + lKa + lCl ~ 1, random = pdDiag(lKe + lKa + lCl ~ 1),
                  groups = ~ Subject, start = start_tot, method = "ML")

summ <- function(fit) {
  fe <- fixef(fit)
  sds <- as.numeric(VarCorr(fit)[, "StdDev"])
  names(sds) <- rownames(VarCorr(fit))
  list(method = fit$method, fixed = as.list(fe),
       typical = list(KE = exp(fe[["lKe"]]), KA = exp(fe[["lKa"]]), CL = exp(fe[["lCl"]]),
                      V = exp(fe[["lCl"]]) / exp(fe[["lKe"]])),
       sd = as.list(sds), logLik = as.numeric(logLik(fit)),
       n_obs = nrow(Th), n_subjects = length(unique(Th$Subject)))
}
out <- list(source = "R nlme on datasets::Theoph; see header of theoph_nlme.R",
            r_version = R.version.string,
            nlme_version = as.character(packageVersion("nlme")),
            fm1_pdSymm_ML = summ(fm1), fm2_pdDiag_lKa_lCl_ML = summ(fm2),
            fm3_pdDiag_all_ML_dose_per_kg = summ(fm3),
            fm3_pdDiag_all_ML_total_dose_mg = summ(fm3_total))
to_json <- function(x, indent = "") {
  pad <- paste0(indent, "  ")
  if (is.list(x)) {
    keys <- names(x)
    items <- vapply(seq_along(x), function(i) paste0(pad, '"', keys[i], '": ', to_json(x[[i]], pad)), "")
    return(paste0("{\n", paste(items, collapse = ",\n"), "\n", indent, "}"))
  }
  if (is.character(x)) return(paste0('"', x, '"'))
  formatC(x, digits = 12, format = "g")
}
cat(to_json(out), "\n")
