using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Abstractions;
using Microsoft.AspNetCore.Routing;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Middleware;
using Moq;

namespace AgentSessions.Functions.Tests.Observability;

/// <summary>
/// Runs an HTTP function behind worker middleware, in the order Program.cs registers them (first = outermost), with a
/// stand-in <see cref="FunctionContext"/> that carries what the worker gives: the route's binding data, the function's
/// name and the ASP.NET Core <see cref="HttpContext"/>.
/// </summary>
public static class FunctionPipeline
{
    /// <summary>The <see cref="FunctionContext.Items"/> key under which the ASP.NET Core integration keeps the HttpContext.</summary>
    private const string HttpContextItem = "HttpRequestContext";

    public static FunctionContext Context(string functionName, HttpContext http, IReadOnlyDictionary<string, object?> bindingData)
    {
        var binding = new Mock<BindingContext>();
        binding.SetupGet(b => b.BindingData).Returns(bindingData);
        var definition = new Mock<FunctionDefinition>();
        definition.SetupGet(d => d.Name).Returns(functionName);
        var context = new Mock<FunctionContext>();
        context.SetupGet(c => c.BindingContext).Returns(binding.Object);
        context.SetupGet(c => c.FunctionDefinition).Returns(definition.Object);
        context.SetupGet(c => c.Items).Returns(new Dictionary<object, object> { [HttpContextItem] = http });
        context.SetupGet(c => c.CancellationToken).Returns(CancellationToken.None);
        Assert.Same(http, context.Object.GetHttpContext()); // the worker's own lookup finds it
        return context.Object;
    }

    /// <summary>Runs <paramref name="function"/> behind <paramref name="middleware"/> and writes its result, as the worker does.</summary>
    public static Task RunAsync(FunctionContext context, Func<HttpRequest, Task<IActionResult>> function, params IFunctionsWorkerMiddleware[] middleware)
    {
        FunctionExecutionDelegate next = async c =>
        {
            var http = c.GetHttpContext()!;
            var result = await function(http.Request);
            await result.ExecuteResultAsync(new ActionContext(http, new RouteData(), new ActionDescriptor()));
        };
        foreach (var outer in middleware.Reverse())
        {
            var inner = next;
            next = c => outer.Invoke(c, inner);
        }

        return next(context);
    }

    /// <summary>A plain 200 with no body (MVC's own results need MVC services the worker does not register).</summary>
    public static Task<IActionResult> Ok() => Task.FromResult<IActionResult>(new StatusOnlyResult(StatusCodes.Status200OK));

    private sealed class StatusOnlyResult(int status) : IActionResult
    {
        public Task ExecuteResultAsync(ActionContext context)
        {
            context.HttpContext.Response.StatusCode = status;
            return Task.CompletedTask;
        }
    }
}
