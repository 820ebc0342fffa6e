/* Right-hand sides for the deSolve side of the structural-model benchmark,
   compiled with R CMD SHLIB (deSolve's compiled-code interface).
   States: A1 depot, A2 central (amounts, mg). Concentration C = A2 / V (mg/L).
   Parameters (per subject, set through initmod): KA, CL, V, VM, KM.
   one_cpt_lin:  dA2/dt = KA*A1 - CL/V*A2
   one_cpt_mm:   dA2/dt = KA*A1 - VM*C/(KM + C)                                  */
#include <R.h>
static double parms[5];
#define KA parms[0]
#define CL parms[1]
#define V  parms[2]
#define VM parms[3]
#define KM parms[4]

void initmod(void (*odeparms)(int *, double *)) {
  int n = 5;
  odeparms(&n, parms);
}

void one_cpt_lin(int *neq, double *t, double *y, double *ydot, double *yout, int *ip) {
  ydot[0] = -KA * y[0];
  ydot[1] = KA * y[0] - CL / V * y[1];
}

void one_cpt_mm(int *neq, double *t, double *y, double *ydot, double *yout, int *ip) {
  double c = y[1] / V;
  ydot[0] = -KA * y[0];
  ydot[1] = KA * y[0] - VM * c / (KM + c);
}
