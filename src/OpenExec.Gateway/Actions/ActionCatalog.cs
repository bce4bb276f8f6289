namespace OpenExec.Gateway.Actions;

/// <summary>What an action name stands for (SPEC step 2).</summary>
internal sealed record ActionDefinition(string Name, ActionKind Kind, string? ClusterId = null, string? ExecutePath = null, string? RouteId = null);

internal enum ActionKind
{
    /// <summary>Runs in process (echo, add).</summary>
    BuiltIn,

    /// <summary>A YARP route to a backend (SPEC section 5).</summary>
    Routed,
}

/// <summary>
/// Every action the gateway knows: the built-ins, and the routed actions declared in YARP route
/// metadata. Built once from configuration; looked up per request without allocation.
/// </summary>
internal sealed class ActionCatalog
{
    private readonly Dictionary<string, ActionDefinition> _actions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ActionDefinition> _byRoute = new(StringComparer.OrdinalIgnoreCase);

    public ActionCatalog(IEnumerable<ActionDefinition> routed)
    {
        foreach (var name in BuiltInActions.Names)
        {
            _actions[name] = new ActionDefinition(name, ActionKind.BuiltIn);
        }
        foreach (var action in routed)
        {
            _actions[action.Name] = action;
            if (action.RouteId is not null)
            {
                _byRoute[action.RouteId] = action;
            }
        }
    }

    public IEnumerable<ActionDefinition> All => _actions.Values;

    public ActionDefinition? Find(string name) => _actions.GetValueOrDefault(name);

    /// <summary>The action a YARP route stands for; null for a pass-through or unknown route.</summary>
    public ActionDefinition? ByRoute(string routeId) => _byRoute.GetValueOrDefault(routeId);
}
