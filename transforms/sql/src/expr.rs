//! Compiled expressions: the typed nodes `compile` builds once at init and
//! the evaluator walks for every record.
//!
//! Nothing here is re-parsed per record: names are resolved to field
//! paths, function names to their [`FunctionDef`], `LIKE` patterns and
//! literal casts prepared ahead of time.

use std::rc::Rc;

use crate::ctx::Ctx;
use crate::error::EvalError;
use crate::functions::{Eval, FunctionDef};
use crate::value::{DataType, Value};

/// One compiled expression node.
#[derive(Debug, Clone)]
pub enum Node {
    /// A constant.
    Literal(Value),
    /// A lambda parameter: its slot on the context's stack of locals.
    Local(usize),
    /// A function call.
    Call(&'static FunctionDef, Vec<Node>),
    /// A lambda, only meaningful as an argument of a function that takes one.
    Lambda(Rc<Lambda>),
}

/// A compiled lambda (`x -> x > 1`, `(acc, x) -> acc + x`).
#[derive(Debug)]
pub struct Lambda {
    /// Parameter names, for messages.
    pub(crate) params: Vec<String>,
    /// The slot of the first parameter on the locals stack (lambdas nest).
    pub(crate) base: usize,
    /// The body, reading its parameters as `Node::Local`.
    pub(crate) body: Node,
    /// The body's type.
    pub(crate) data_type: DataType,
}

impl Lambda {
    /// How many parameters it takes.
    pub fn arity(&self) -> usize {
        self.params.len()
    }

    /// The type of its body, as compiled.
    pub fn data_type(&self) -> &DataType {
        &self.data_type
    }

    /// Runs the body with its parameters bound to `args` (as many as
    /// [`Lambda::arity`]).
    pub fn call(&self, args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
        {
            let mut locals = ctx.locals.borrow_mut();
            locals.truncate(self.base);
            locals.extend(args.iter().take(self.params.len()).cloned());
            locals.resize(self.base + self.params.len(), Value::Null);
        }
        self.body.eval(ctx)
    }
}

impl Node {
    /// The compiled lambda, when this argument is one.
    pub fn as_lambda(&self) -> Option<&Lambda> {
        match self {
            Node::Lambda(lambda) => Some(lambda),
            _ => None,
        }
    }

    /// This node's value in `ctx`.
    pub fn eval(&self, ctx: &Ctx<'_>) -> Result<Value, EvalError> {
        match self {
            Node::Literal(value) => Ok(value.clone()),
            Node::Local(slot) => Ok(ctx.locals.borrow().get(*slot).cloned().unwrap_or_default()),
            Node::Call(function, args) => call(function, args, ctx),
            Node::Lambda(_) => {
                Err(EvalError::function("a lambda can only be an argument of a function that takes one"))
            }
        }
    }
}

/// Calls `function` on `args` as its [`Eval`] asks.
fn call(function: &FunctionDef, args: &[Node], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    match function.eval {
        Eval::Lazy(eval) => eval(args, ctx),
        Eval::Scalar(eval) => {
            let values = args.iter().map(|a| a.eval(ctx)).collect::<Result<Vec<_>, _>>()?;
            if function.null_intolerant && values.iter().any(Value::is_null) {
                return Ok(Value::Null);
            }
            eval(&values, ctx)
        }
    }
}
