# Reference fit for tests/infer/test_theoph.py: Pinheiro & Bates (2000), Mixed-Effects
# Models in S and S-PLUS, sec. 8.2 (the script ch08.R shipped with nlme): the
# first-order compartment model of the theophylline data, fitted by maximum likelihood
# (nlme's default), with a general positive-definite (unstructured) covariance of the
# random effects on lKe, lKa, lCl (fm1Theo.nlme).
#
#   Rscript tests/infer/reference/theoph_nlme.R > tests/infer/reference/theoph_nlme.txt
#
# SSfol: conc = Dose exp(lKe + lKa - lCl) (exp(-exp(lKe) t) - exp(-exp(lKa) t)) / (exp(lKa) - exp(lKe))
# with Dose in mg/kg, so Cl = exp(lCl) is in L/h/kg and V = Cl/Ke in L/kg.
library(nlme)
fm1 <- nlme(nlsList(conc ~ SSfol(Dose, Time, lKe, lKa, lCl), data = Theoph))
cat("nlme", as.character(packageVersion("nlme")), "method", fm1$method, "\n")
print(fixef(fm1), digits = 8)
print(VarCorr(fm1))
fe <- fixef(fm1)
cat(sprintf("KA = %.5f 1/h, CL = %.6f L/h/kg, V = %.6f L/kg, sigma = %.5f mg/L\n",
            exp(fe[["lKa"]]), exp(fe[["lCl"]]), exp(fe[["lCl"]] - fe[["lKe"]]), fm1$sigma))
